"""Faults planted on a copy of a subset of the sample, for the audit's recall test and its calibration:
resized, re-encoded and slightly cropped copies of images (near-duplicates), Test images copied into
Training under another label (leakage + label errors), and non-fruit images made here (noise, flat colour,
a drawn shape: outliers)."""

import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


@dataclass
class Planted:
    duplicates: list = field(default_factory=list)   # (copy path, original path)
    mislabelled: list = field(default_factory=list)  # (copy path in Training, true label, given label)
    non_fruit: list = field(default_factory=list)    # paths


def near_copy(image, kind):
    """A resized (to 80 px and back up), re-encoded (JPEG quality 60, saved by the caller) or 6 %-cropped copy."""
    if kind == "resized":
        return image.resize((80, 80), Image.BICUBIC).resize(image.size, Image.BICUBIC)
    if kind == "cropped":
        w, h = image.size
        dx, dy = round(w * 0.03), round(h * 0.03)
        return image.crop((dx, dy, w - dx, h - dy)).resize(image.size, Image.BICUBIC)
    return image


def non_fruit_image(kind, rng):
    if kind == "noise":
        return Image.fromarray(rng.integers(0, 256, (100, 100, 3), dtype=np.uint8))
    if kind == "flat":
        return Image.new("RGB", (100, 100), (40, 90, 200))
    image = Image.new("RGB", (100, 100), (255, 255, 255))
    ImageDraw.Draw(image).rectangle((20, 35, 80, 65), fill=(10, 10, 10))
    return image


def copy_subset(sample, root, labels, train_per_label, test_per_label):
    """Copies images of `labels` of both splits, spread evenly over each folder, to root/<split>/<label>/."""
    for split, count in (("Training", train_per_label), ("Test", test_per_label)):
        for label in labels:
            target = root / split / label
            target.mkdir(parents=True)
            files = sorted((sample / split / label).glob("*.jpg"))
            for image in files[::max(1, len(files) // count)][:count]:
                shutil.copy(image, target / image.name)


def plant(root, seed=0, duplicates=12, mislabelled=6, non_fruit=3):
    """Plants the faults into root/<split>/<label>/ folders (already holding images) and says where."""
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    planted = Planted()
    labels = sorted(p.name for p in (root / "Training").iterdir())
    originals = sorted((root / "Training").glob("*/*.jpg"))
    for i, original in enumerate(pick.sample(originals, duplicates)):
        kind = ("resized", "reencoded", "cropped")[i % 3]
        copy = original.with_name(f"planted_{kind}_{original.stem}.jpg")
        near_copy(Image.open(original).convert("RGB"), kind).save(copy, quality=60 if kind == "reencoded" else 90)
        planted.duplicates.append((copy, original))
    tests = sorted((root / "Test").glob("*/*.jpg"))
    for original in pick.sample(tests, mislabelled):
        true_label = original.parent.name
        given = pick.choice([label for label in labels if label != true_label])
        copy = root / "Training" / given / f"planted_leak_{original.stem}.jpg"
        shutil.copy(original, copy)
        planted.mislabelled.append((copy, true_label, given))
    for i, kind in enumerate(("noise", "flat", "shape")[:non_fruit]):
        path = root / "Training" / labels[i] / f"planted_{kind}.png"
        non_fruit_image(kind, rng).save(path)
        planted.non_fruit.append(path)
    return planted
