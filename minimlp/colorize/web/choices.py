"""The models the page offers: the shipped MSE U-Net, the shipped vivid one, and each ``--checkpoint`` given."""
from ..models.store import default_pretrained, installed_pretrained, load_colorizer, VIVID_PRETRAINED

# the decoding temperatures the page accepts for a vivid model (0: each pixel's most likely bin)
TEMPERATURE_RANGE = (0.0, 2.0)


class ModelChoice:
    """One model on the page: its id in the API, the label shown, the loaded model and its task; ``vivid`` when it
    predicts chroma bins and so takes a decoding temperature (``temperature``: its own)."""

    def __init__(self, key, label, model, config):
        self.key, self.label, self.model, self.task = key, label, model, config["task"]
        bins = getattr(model, "chroma_bins", None)
        self.vivid = bins is not None
        self.temperature = bins.temperature if self.vivid else None

    def describe(self):
        """What the page needs to know of this model (JSON-ready)."""
        return {"id": self.key, "label": self.label, "vivid": self.vivid, "temperature": self.temperature}

    def check_temperature(self, text):
        """The temperature ``text`` asks for (None for the model's own, when ``text`` is empty); ValueError (one
        line) for a number outside ``TEMPERATURE_RANGE`` or a temperature given to a model that takes none."""
        if text in (None, ""):
            return None
        if not self.vivid:
            raise ValueError(f"temperature {text}: {self.label} is not a vivid model and takes no temperature")
        low, high = TEMPERATURE_RANGE
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise ValueError(f"temperature {text}: give a number from {low:g} to {high:g}")
        return value


def load_choices(checkpoints=(), device="cpu"):
    """The models to offer, each loaded once: the default pretrained model, the first installed vivid one, then
    each of ``checkpoints`` (anything ``--checkpoint`` takes). A one-line error if one cannot be loaded."""
    listed = [("shipped", "pretrained", f"{default_pretrained()} (MSE, shipped)")]
    vivid = [name for name in VIVID_PRETRAINED if name in installed_pretrained()]
    if vivid:
        listed.append(("vivid", f"pretrained:{vivid[0]}", f"{vivid[0]} (vivid, shipped)"))
    listed += [(f"checkpoint-{k}", path, path) for k, path in enumerate(checkpoints, 1)]
    choices = {}
    for key, checkpoint, label in listed:
        model, config = load_colorizer(checkpoint, device=device)
        if key.startswith("checkpoint"):
            label = f"{label} ({config['model']})"
        choices[key] = ModelChoice(key, label, model, config)
    return choices
