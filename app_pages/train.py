"""Train: start a short training run, watch it live, compare runs, export the result.

A run is a separate process (``python -m classifier train``) writing to its folder under
runs/, so leaving this page or closing the browser does not stop it; everything shown
here is read back from the run folders every second.
"""

from pathlib import Path

import streamlit as st

from app_pages import page_helpers

from classifier import get_card, list_models
from classifier.data.download import DownloadError
from classifier.data import AUGMENTATIONS, DATASETS, data_dir, download, extract_upload, is_downloaded
from classifier.train import (
    ACTIVE, AMP_MODES, FORMATS, OPTIMIZERS, SCHEDULES, TrainConfig, available_devices, export_run, launch,
    current_export,
    list_runs, runs_root,
)
from classifier.train import report
from classifier.train.config import check_batch

INSPECT_PAGE = Path(__file__).with_name("inspect.py")
FORMAT_NAMES = {"torchscript": "TorchScript", "onnx": "ONNX"}

st.title("Train")
st.caption(
    "Train any 32×32 variant on the bundled digits (no download), MNIST, Fashion-MNIST, CIFAR or your own "
    "images, or fine-tune a net's trained weights on your own images (Start from). Runs keep going when you "
    "leave the page; come back to watch them."
)


def download_with_bar(name: str) -> None:
    bar = st.progress(0.0, text=f"Downloading {DATASETS[name].title}…")

    def show(label: str, done: int, total: int | None) -> None:
        fraction = done / total if total else 0.0
        bar.progress(min(fraction, 1.0), text=f"Downloading {label}: {done / 1e6:.1f} MB" + (f" of {total / 1e6:.1f}" if total else ""))

    try:
        download(name, progress=show)
    finally:
        bar.empty()


# every 32×32 variant, then the nets with trained weights to fine-tune on your own images
trainable = list_models(small_input=True)
trainable += [n for n in list_models() if n not in trainable and page_helpers.weight_options(n)]

# the form's fields that the chosen model's recipe fills, by widget key
RECIPE_KEYS = {"epochs": "train_epochs", "batch_size": "train_batch", "optimizer": "train_optimizer", "lr": "train_lr",
               "weight_decay": "train_weight_decay", "schedule": "train_schedule", "warmup_epochs": "train_warmup",
               "augment": "train_augment", "label_smoothing": "train_smoothing"}


def start_from_recipe(overwrite: bool) -> None:
    """Fill the form from the chosen model's recipe: on a first visit, and anew when the
    model changes (the user's edits then override it field by field)."""
    recipe = get_card(st.session_state["train_model"]).recipe
    for name, key in RECIPE_KEYS.items():
        if overwrite or key not in st.session_state:
            st.session_state[key] = getattr(recipe, name)


new_run = st.expander("New run", expanded=not list_runs())
m1, m2 = new_run.columns(2)
model = m1.selectbox("Model", trainable, key="train_model", format_func=lambda n: f"{n} — {get_card(n).variant}",
                     on_change=start_from_recipe, args=(True,),
                     help="the 32×32 variants train from scratch in minutes; the others are there to fine-tune "
                          "their trained weights on your own images")
start_from_recipe(overwrite=False)
recipe = get_card(model).recipe
new_run.caption(f"Defaults from {model}'s recipe — {recipe.source}.")
starts = {"": "Random initialisation",
          **page_helpers.weight_options(model),
          **{path: f"Training run {label}" for label, path in page_helpers.run_checkpoints(str(runs_root()), model).items()}}
init = m2.selectbox("Start from", list(starts), format_func=starts.get, key=f"train_init_{model}",
                    help="trained weights to fine-tune: a head of another class count starts fresh, and images "
                         "are resized and normalised as those weights expect")
with new_run, st.form("train_form"):
    c1, c2, c3 = st.columns(3)
    freeze = c1.number_input("Epochs with the trunk frozen", 0, 500, 0, key="train_freeze", disabled=not init,
                             help="train only the classifier head for the first epochs")
    dataset = c2.selectbox("Dataset", list(DATASETS), key="train_dataset", format_func=lambda d: DATASETS[d].title)
    augment = c3.selectbox("Augmentation", AUGMENTATIONS, key="train_augment",
                           help="flip: the horizontal mirror alone (never for digits and letters)")
    epochs = c1.number_input("Epochs", min_value=1, max_value=1000, key="train_epochs")
    batch_size = c2.number_input("Batch size", min_value=1, max_value=4096, key="train_batch")
    optimizer = c3.selectbox("Optimizer", OPTIMIZERS, key="train_optimizer",
                             help="another optimizer than the recipe's takes its own default rate and decay "
                                  "unless you change those too")
    lr = c1.number_input("Learning rate", min_value=0.0, max_value=10.0, format="%g", key="train_lr")
    weight_decay = c2.number_input("Weight decay", min_value=0.0, max_value=1.0, format="%g", key="train_weight_decay",
                                   help="on weights and kernels only, never on biases and norm scales")
    smoothing = c3.number_input("Label smoothing", min_value=0.0, max_value=0.99, step=0.05, key="train_smoothing")
    schedule = c1.selectbox("Schedule", SCHEDULES, key="train_schedule",
                            help="plateau: ÷10 once the test loss stops improving (AlexNet's rule)")
    warmup = c2.number_input("Warm-up epochs", min_value=0.0, max_value=100.0, step=0.5, key="train_warmup")
    devices = available_devices()
    device = c3.selectbox("Device", devices, key="train_device")
    amp = c1.selectbox("Mixed precision (CUDA)", AMP_MODES, key="train_amp", disabled="cuda" not in devices)
    channels_last = c2.checkbox("channels_last (CUDA)", key="train_channels_last", disabled="cuda" not in devices)
    keep_epochs = c3.checkbox("Keep every epoch's weights", value=True, key="train_keep_epochs",
                              help="lets the Compare page show how features evolve over training (ZFNet Fig. 4)")
    with st.expander("Your own images (the image-folder dataset)"):
        folder = st.text_input("Folder on this machine, one sub-folder of images per class", key="train_folder")
        upload = st.file_uploader("…or a zip of such a folder", type="zip", key="train_zip")
    start = st.form_submit_button("Start", type="primary")

if start:
    try:
        data_path = folder or None
        if dataset == "folder" and upload is not None:
            data_path = str(extract_upload(upload, upload.name, data_dir()))
        chosen = {"epochs": int(epochs), "batch_size": int(batch_size), "optimizer": optimizer, "lr": lr,
                  "weight_decay": weight_decay, "schedule": schedule, "warmup_epochs": warmup, "augment": augment,
                  "label_smoothing": smoothing}
        config = TrainConfig(
            model=model, dataset=dataset, data_path=data_path, device=device, amp=amp, channels_last=channels_last,
            keep_epochs=keep_epochs, init_weights=init or None, freeze_epochs=int(freeze) if init else 0,
            # what differs from the recipe is the user's; the rest the config takes from the recipe itself
            **{name: value for name, value in chosen.items() if value != getattr(recipe, name)},
        )
        check_batch(config)
        if not is_downloaded(dataset):
            download_with_bar(dataset)
        page_helpers.fetch_weights(init)
        st.session_state["train_watch"] = launch(config).run_id
    except DownloadError as exc:
        st.error(f"{DATASETS[dataset].title} is not in the data cache and {exc.filename} could not be downloaded; "
                 f"put it in {exc.folder} to train offline, or choose Digits, which is bundled.")
    except (ValueError, OSError) as exc:
        st.error(f"Could not start the run: {exc}")


@st.fragment(run_every=1)
def runs_view() -> None:
    runs = {r.run_id: r for r in list_runs()}
    if not runs:
        st.info("No runs yet: start one above, or from a terminal with `python -m classifier train --model lenet5`.")
        return
    if st.session_state.get("train_watch") not in runs:
        st.session_state["train_watch"] = report.default_run(list(runs.values())).run_id
    run = runs[st.selectbox("Run", list(runs), key="train_watch")]
    config, status, metrics = run.read_config(), run.read_status(), run.read_metrics()
    state = status.get("state", "unknown")

    st.subheader(f"{config.model} on {DATASETS[config.dataset].title} — {state}")
    fraction, eta = report.progress(status, config.batch_size)
    speed = f" · {status['images_per_s']:,.0f} images/s" if state in ACTIVE and status.get("images_per_s") else ""
    st.progress(fraction, text=f"epoch {status.get('epoch', 0):.2f} of {config.epochs}{speed}"
                + (f" · ETA {report.format_eta(eta)}" if eta is not None else ""))
    if status.get("model_status"):  # what the model reports of its own training (CondenseNet's condensation)
        st.caption(status["model_status"])
    if status.get("error"):
        st.error(status["error"])
    buttons = st.columns(4)
    if state in ACTIVE:
        buttons[0].button("Stop", key="train_stop", on_click=run.request_stop,
                          help="Checkpoint at the next logged step, then end the run as stopped")
    elif state in ("stopped", "interrupted") and run.last_checkpoint.is_file():
        buttons[0].button("Resume", key="train_resume", on_click=launch, args=(config,), kwargs={"resume": run.run_id})

    others = st.multiselect("Overlay other runs", [i for i in runs if i != run.run_id], key="train_overlay")
    series = {run.run_id: metrics, **{i: runs[i].read_metrics() for i in others}}
    charts = st.columns(2)
    for i, curve in enumerate(report.CURVES):
        charts[i % 2].plotly_chart(report.curve_figure(series, curve), key=f"train_curve_{curve}")

    st.dataframe([report.run_row(r) for r in runs.values()], hide_index=True, key="train_table")

    final = report.latest_eval(metrics)
    if final is None or state in ACTIVE:
        return
    st.subheader(f"Test set after epoch {final['epoch']}: top-1 {final['top1']:.1%}, top-5 {final['top5']:.1%}")
    classes = status.get("class_names") or [str(i) for i in range(len(final["per_class"]))]
    left, right = st.columns([3, 2])
    left.plotly_chart(report.confusion_figure(final["confusion"], classes), key="train_confusion")
    right.plotly_chart(report.per_class_figure(final["per_class"], classes), key="train_per_class")
    if run.best_checkpoint.is_file():
        cols = st.columns(len(FORMATS) + 1)
        for col, (fmt, suffix) in zip(cols, FORMATS.items()):
            # the file's bytes, not a deferred callable: this view reruns every second, and a
            # deferred download does not survive a rerun
            ready = current_export(run, fmt)
            if ready is None and col.button(f"Prepare {FORMAT_NAMES[fmt]}", key=f"train_prepare_{fmt}"):
                with col.spinner(f"Exporting to {FORMAT_NAMES[fmt]}…"):
                    ready = export_run(run, fmt)
            if ready is not None:
                col.download_button(f"Download {FORMAT_NAMES[fmt]}", data=ready.read_bytes(),
                                    file_name=f"{run.run_id}{suffix}", on_click="ignore", key=f"train_export_{fmt}")
        if cols[-1].button("Inspect this model", key="train_inspect"):
            st.session_state["inspect_checkpoint"] = str(run.best_checkpoint)
            if INSPECT_PAGE.is_file():
                st.switch_page("app_pages/inspect.py")
            st.info("The Inspect page is not there yet; this checkpoint will be waiting for it.")


runs_view()
