"""What each setting may be: the ranges of the numbers and the names of the augmentations, so that a
params file is checked before anything runs (imports nothing of lib)."""

from __future__ import annotations

# Every augmentation the parameters may name, with the value that switches it off (lib/augment.py).
AUGMENTATIONS_OFF = {
    "rotation": 0.0,         # degrees: a random angle in [-rotation, +rotation]
    "width_shift": 0.0,      # fraction of the width
    "height_shift": 0.0,     # fraction of the height
    "shear": 0.0,            # shear factor (Keras RandomShear)
    "zoom": 0.0,             # fraction: zoom in or out by up to this much
    "horizontal_flip": False,
    "vertical_flip": False,
    "rot90": False,          # random transpose: with both flips, all eight 90-degree views
    "brightness": 0.0,       # add up to +/- this fraction of full scale (Keras RandomBrightness)
    "contrast": 0.0,         # scale contrast by a factor in [1 - contrast, 1 + contrast]
    # camera: changes to the photo as taken, made before the input stage (lib/part.py), as a lamp,
    # a lens or a camera would make them; every epoch draws new ones
    "gain": 0.0,             # light times a factor in [1 - gain, 1 + gain], highlights clipping at white
    "brighter": 0.0,         # light times a factor in [1, 1 + brighter]: a brighter lamp only (the part
                             # stage undoes a dimmer one), highlights clipping at white
    "gamma": 0.0,            # the camera's response: pixel ** exp(u), u in [-gamma, gamma]
    "blur": 0.0,             # Gaussian blur of sigma up to this many photo pixels
    "noise": 0.0,            # sensor noise of sd up to this many grey levels
    "jpeg": 0,               # JPEG quality drawn from [jpeg, 95]; 0: off
    "shift": 0.0,            # the part moved by up to this fraction of the frame
    "scale": 0.0,            # the part nearer or farther by up to this fraction
    "turn": 0.0,             # the part turned on the bench by up to this many degrees either way
    # batch: made on the network's input, after the above
    "mixup": 0.0,            # each image blended with another of its batch, and its label likewise, by a
                             # weight from Beta(mixup, mixup) (keras.layers.MixUp); 0: off. With it on, the
                             # training batches' accuracy and recall (chapter 3) are against blended labels
                             # and read low; validation's are not blended
}

# settings added to a run's recipe after runs were saved, with the value those runs were trained with (a cv
# run saved before is still the match of a recipe that has it at that value)
RECIPE_ADDED = {"ema_momentum": 0.0, "weight_decay": 0.0, "networks": 1, "later_augmentation": {},
                "pooling": "avg", "label_smoothing": 0.0}

# (lowest, highest) allowed for each numeric parameter; None: no bound on that side.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "seed": (0, None),
    "subset": (0, None),  # 0: all
    "val_fraction": (0.01, 0.9),
    "test_fraction": (0.01, 0.9),
    "near_twin_cutoff": (0.0, 1.0),
    "image_size": (16, 1024),
    "width": (1, 512),
    "batch_size": (1, 4096),
    "epochs": (1, 1000),
    "learning_rate": (1e-7, 1.0),
    "patience": (1, 1000),
    "precise_bn_batches": (0, 10000),
    "ema_momentum": (0.0, 0.9999),
    "weight_decay": (0.0, 1.0),
    "label_smoothing": (0.0, 0.5),
    "networks": (1, 5),
    "verbose": (0, 2),
    "cost_missed_defect": (1e-9, None),
    "cost_scrapped_good": (1e-9, None),
    "scrap_budget": (0.0, 0.99),
    "review_low": (0.0, 1.0),
    "review_high": (0.0, 1.0),
    "test_time_views": (1, 8),
    "examples": (0, 1000),
}


# the names a text parameter may take (lib/models.py's MODELS, lib/splits.py, lib/decision.py, ...; tests
# keep each list equal to the code that acts on it)
CHOICES: dict[str, tuple[str, ...]] = {
    "model_name": ("fast_cnn", "seed_baseline", "seed_wide", "mobilenet_v3_small", "efficientnet_b0",
                   "resnet50"),
    "split": ("published", "grouped"),
    "input_stage": ("part", "photo"),
    "lr_schedule": ("cosine", "constant"),
    "threshold_rule": ("scrap_budget", "min_cost", "full_recall"),
    "unreadable_images": ("skip", "fail"),
    "distribution": ("default", "mirrored"),
    "pooling": ("avg", "avgmax"),
}


def out_of_range(key: str, value: object) -> str | None:
    """What a parameter may be, when its value is outside its range or not one of its choices; else None."""
    if key in CHOICES and isinstance(value, str) and value not in CHOICES[key]:
        return f"must be one of {', '.join(CHOICES[key])}"
    if key not in RANGES or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    low, high = RANGES[key]
    if (low is not None and value < low) or (high is not None and value > high):
        return f"must be from {low if low is not None else '-inf'} to {high if high is not None else 'inf'}"
    return None
