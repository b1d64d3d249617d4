"""Near-duplicates: the same photograph seen again under rotation, flips, zoom, shear or brightness.

Every part in the data set is the same casting design, photographed on the
same bench, so neither a global descriptor nor the part itself tells one photograph from another:
two different good parts, aligned, correlate at 0.8-0.9 in every detail of the casting. What gives
a photograph away is the bench around the part: a different part puts the bench's scratches and
grain somewhere else relative to the part, the same photograph turned or zoomed carries them
along. So two images are compared in two steps: SIFT keypoints (computed on each image and on its
mirror image) are matched and an affine map is fitted with RANSAC; then the first image is warped
onto the second and the fine detail (a high-pass filter) of the background outside the part's
circle is correlated. Candidates come from voting over a FLANN index of all descriptors, so each
image is compared in full with a handful of others only.
"""

from __future__ import annotations

import gzip
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from tqdm import tqdm

from lib.config import CACHE_DIR, SHIPPED_DIR
from lib.data import load_images
from lib.progress import track

FEATURE_SIZE = 300  # pixels a side the images are compared at (the data set's own size)
SIFT_FEATURES = 300  # most keypoints kept per image
CANDIDATES = 8  # images compared in full per image and view (the most votes)
MIN_INLIERS = 15  # fewer keypoint matches agreeing on one affine map: not the same photograph
RANSAC_PX = 3.0  # pixels a keypoint may sit from where the fitted map puts it
DETAIL_SIGMA = 2.0  # Gaussian sigma (px) removed to keep only the fine detail
PART_MARGIN = 12  # pixels past the part's rim left out of the background (its shadow and edge)
MIN_BACKGROUND = 2000  # fewer overlapping background pixels: too little bench to tell
METHOD_VERSION = "sift-affine-background-3"  # part of the pairs files' key: change when the method changes
INDEX_SEED = 0  # OpenCV's random-number seed for the FLANN index: the same candidates on every run

Features = list[tuple[np.ndarray, np.ndarray]]  # per view (as is, mirrored): (points N x 2, SIFT N x 128)


def sift_features(image: np.ndarray) -> Features:
    """SIFT keypoint positions and descriptors of an 8-bit image and of its mirror image."""
    sift = cv2.SIFT_create(nfeatures=SIFT_FEATURES)
    views = []
    for view in (image, cv2.flip(image, 1)):
        keypoints, descriptors = sift.detectAndCompute(view, None)
        points = np.float32([k.pt for k in keypoints]).reshape(-1, 2)
        views.append((points, descriptors if descriptors is not None else np.zeros((0, 128), np.float32)))
    return views


def candidate_pairs(features: list[Features], count: int = CANDIDATES) -> list[tuple[int, int, int]]:
    """(image, other image, view) for the `count` others sharing most nearest descriptors per view."""
    counts = [len(f[0][1]) for f in features]
    if sum(counts) < 2:
        return []
    owner = np.repeat(np.arange(len(features)), counts)
    cv2.setRNGSeed(INDEX_SEED)  # FLANN's randomised k-d trees draw from OpenCV's generator
    matcher = cv2.FlannBasedMatcher({"algorithm": 1, "trees": 4}, {"checks": 64})
    matcher.add([np.vstack([f[0][1] for f in features]).astype(np.float32)])
    matcher.train()
    pairs = []
    for i, views in enumerate(track(tqdm(features, desc="near-duplicates: candidates", unit="image"),
                                    len(features), "near-twins: candidates", "image")):
        for view, (_, descriptors) in enumerate(views):
            if len(descriptors) == 0:
                continue
            matches = matcher.knnMatch(descriptors.astype(np.float32), k=min(3, sum(counts)))
            votes = np.bincount(owner[[m.trainIdx for ms in matches for m in ms]], minlength=len(features))
            votes[i] = 0
            pairs += [(i, int(j), view) for j in np.argsort(votes)[::-1][:count] if votes[j] > 0]
    return pairs


def fit_affine(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
               ) -> tuple[np.ndarray | None, int]:
    """The affine map taking view a's keypoints onto b's (ratio test, RANSAC) and its inlier count."""
    (pa, da), (pb, db) = a, b
    if len(da) < 2 or len(db) < 2:
        return None, 0
    matches = cv2.BFMatcher(cv2.NORM_L2).knnMatch(da, db, k=2)
    good = [m for m, n in (pair for pair in matches if len(pair) == 2) if m.distance < 0.8 * n.distance]
    if len(good) < 3:
        return None, 0
    matrix, inliers = cv2.estimateAffine2D(pa[[m.queryIdx for m in good]], pb[[m.trainIdx for m in good]],
                                           method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX)
    return (matrix, int(inliers.sum())) if matrix is not None else (None, 0)


def part_circle(image: np.ndarray) -> tuple[float, float, float]:
    """Centre x, y and radius of the part (the largest circle); a centred disc if none is found."""
    height, width = image.shape
    found = cv2.HoughCircles(cv2.GaussianBlur(image, (0, 0), 3), cv2.HOUGH_GRADIENT, dp=2, minDist=width,
                             param1=60, param2=40, minRadius=int(0.3 * height), maxRadius=int(0.5 * height))
    if found is None:
        return width / 2, height / 2, 0.42 * height
    x, y, radius = found[0][0]
    return float(x), float(y), float(radius)


def background_correlation(image_a: np.ndarray, image_b: np.ndarray, matrix: np.ndarray,
                           circle_b: tuple[float, float, float]) -> float:
    """Correlation of the bench's fine detail once image_a is warped onto image_b (outside b's part)."""
    size = image_b.shape[1], image_b.shape[0]
    warped = cv2.warpAffine(image_a.astype(np.float32), matrix, size)
    overlap = cv2.warpAffine(np.ones(image_a.shape, np.uint8), matrix, size)
    overlap = cv2.erode(overlap, np.ones((9, 9), np.uint8))  # drop the interpolated border
    x, y, radius = circle_b
    cv2.circle(overlap, (round(x), round(y)), round(radius + PART_MARGIN), 0, -1)
    background = overlap > 0
    if background.sum() < MIN_BACKGROUND:
        return 0.0

    def detail(image: np.ndarray) -> np.ndarray:
        return image - cv2.GaussianBlur(image, (0, 0), DETAIL_SIGMA)

    a, b = detail(warped)[background], detail(image_b.astype(np.float32))[background]
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / norm) if norm > 0 else 0.0


def pair_similarity(images: np.ndarray, features: list[Features], circles: list[tuple[float, float, float]],
                    i: int, j: int, view: int) -> tuple[int, float]:
    """(inliers, background correlation) of image i (mirrored if view is 1) onto image j; 0 if unaligned."""
    matrix, inliers = fit_affine(features[i][view], features[j][0])
    if matrix is None or inliers < MIN_INLIERS:
        return inliers, 0.0
    image = cv2.flip(images[i], 1) if view else images[i]
    return inliers, background_correlation(image, images[j], matrix, circles[j])


def near_twin_pairs(images: np.ndarray, table: pd.DataFrame, workers: int = 2) -> pd.DataFrame:
    """Every compared pair of rows: paths a and b, view, inliers and similarity (best of both views)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        features = list(track(tqdm(pool.map(sift_features, images), total=len(images),
                                   desc="near-duplicates: keypoints", unit="image"),
                              len(images), "near-twins: keypoints", "image"))
        circles = list(pool.map(part_circle, images))
    pairs = candidate_pairs(features)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        scores = list(track(tqdm(pool.map(lambda p: pair_similarity(images, features, circles, *p), pairs),
                                 total=len(pairs), desc="near-duplicates: compare", unit="pair"),
                            len(pairs), "near-twins: comparing pairs", "pair"))
    paths = table["path"].to_numpy()
    rows = pd.DataFrame(
        [(min(i, j), max(i, j), view, inliers, similarity)
         for (i, j, view), (inliers, similarity) in zip(pairs, scores)],
        columns=["a", "b", "view", "inliers", "similarity"])
    rows = rows.sort_values("similarity", ascending=False).drop_duplicates(["a", "b"], ignore_index=True)
    return rows.assign(a=paths[rows["a"]], b=paths[rows["b"]]).sort_values(["a", "b"], ignore_index=True)


def relative_path(path: str) -> str:
    """An image's path below the data root (split/class/name): the same on every machine."""
    return "/".join(Path(path).parts[-3:])


def image_set_key(table: pd.DataFrame) -> str:
    """A short hash of the method and of the images compared (paths below the data root, file sizes)."""
    listing = "\n".join(sorted(f"{relative_path(p)}\t{Path(p).stat().st_size}" for p in table["path"]))
    return hashlib.sha256(f"{METHOD_VERSION}\n{FEATURE_SIZE}\n{listing}".encode()).hexdigest()[:16]


def pairs_file(table: pd.DataFrame, cache_dir: str | Path) -> tuple[Path, str]:
    """The pairs file for the table's images and where it comes from: shipped, cached, or to compute."""
    name = f"near-twins-{image_set_key(table)}.csv.gz"
    if (SHIPPED_DIR / name).is_file():
        return SHIPPED_DIR / name, "shipped"
    path = Path(cache_dir) / name
    return path, "cached" if path.is_file() else "computed"


def save_pairs(pairs: pd.DataFrame, path: Path) -> None:
    """Write pairs with paths below the data root and similarities floored to 4 decimals (atomic)."""
    floored = np.floor(np.round(pairs["similarity"] * 1e4, 6)) / 1e4  # a re-saved 4-decimal value stays put
    compact = pairs.assign(a=pairs["a"].map(relative_path), b=pairs["b"].map(relative_path),
                           similarity=floored)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    text = compact.to_csv(index=False, float_format="%.4f").encode()
    with partial.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed:
        packed.write(text)  # no name or time in the header: the same pairs give the same bytes
    partial.replace(path)  # a half-written file is never read


def read_pairs(path: Path, table: pd.DataFrame) -> pd.DataFrame:
    """Pairs from a pairs file, their paths made the table's own."""
    pairs = pd.read_csv(path)
    where = {relative_path(p): p for p in table["path"]}
    return pairs.assign(a=pairs["a"].map(where), b=pairs["b"].map(where))


def cached_near_twin_pairs(table: pd.DataFrame, cache_dir: str | Path = CACHE_DIR, workers: int = 2
                           ) -> pd.DataFrame:
    """near_twin_pairs for the table's images: the shipped file, else the cache, else computed and cached."""
    path, source = pairs_file(table, cache_dir)
    if source != "computed":
        return read_pairs(path, table)
    images, good = load_images(table, FEATURE_SIZE)
    save_pairs(near_twin_pairs(images, good, workers), path)
    return read_pairs(path, table)  # the same floored similarities as a later read of the file


def flag_near_twins(table: pd.DataFrame, cutoff: float, cache_dir: str | Path | None = None) -> pd.DataFrame:
    """The table with its near-twin groups and flags (see with_twin_flags); pairs cached (outputs/cache)."""
    pairs = cached_near_twin_pairs(table, cache_dir or CACHE_DIR)
    return with_twin_flags(table, twin_groups(table, pairs, cutoff))


def twin_groups(table: pd.DataFrame, pairs: pd.DataFrame, cutoff: float) -> pd.Series:
    """A group number per row: rows linked by a chain of pairs at or above cutoff share one."""
    index = pd.Series(np.arange(len(table)), index=table["path"].to_numpy())
    known = pairs["a"].isin(index.index) & pairs["b"].isin(index.index)
    linked = pairs[known & (pairs["similarity"] >= cutoff)]
    a, b = index[linked["a"]].to_numpy(), index[linked["b"]].to_numpy()
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(table), len(table)))
    _, labels = connected_components(graph, directed=False)
    return pd.Series(labels, index=table.index, name="twin_group")


def with_twin_flags(table: pd.DataFrame, groups: pd.Series, seen: tuple[str, ...] = ("train", "val")
                    ) -> pd.DataFrame:
    """The table with twin_group, group_size, twin_seen (a near-twin in `seen` splits) and label_conflict."""
    out = table.assign(twin_group=groups)
    by_group = out.groupby("twin_group")
    out["group_size"] = by_group["path"].transform("size")
    seen_count = out["split"].isin(seen).groupby(out["twin_group"]).transform("sum")
    out["twin_seen"] = seen_count - out["split"].isin(seen).astype(int) > 0
    out["label_conflict"] = by_group["label"].transform("nunique") > 1
    return out


def best_matches(table: pd.DataFrame, pairs: pd.DataFrame, split: str = "test",
                 seen: tuple[str, ...] = ("train", "val")) -> pd.DataFrame:
    """For each `split` image, its most similar compared image in `seen` splits (similarity 0 if none)."""
    where = table.set_index("path")["split"]
    both = pd.concat([pairs, pairs.rename(columns={"a": "b", "b": "a"})], ignore_index=True)
    both = both[both["a"].map(where).eq(split) & both["b"].map(where).isin(seen)]
    best = both.sort_values("similarity", ascending=False).drop_duplicates("a")
    queries = table[table["split"] == split][["path", "class_name"]]
    out = queries.merge(best.rename(columns={"a": "path", "b": "match"}), on="path", how="left")
    out["class_match"] = out["match"].map(table.set_index("path")["class_name"])
    return out.fillna({"similarity": 0.0, "inliers": 0}).sort_values("similarity", ascending=False,
                                                                      ignore_index=True)


def near_cutoff(matches: pd.DataFrame, cutoff: float, each: int = 3) -> pd.DataFrame:
    """The `each` matches just at or above the cut-off and the `each` just below, with a side column."""
    inside = matches[matches["similarity"] >= cutoff].nsmallest(each, "similarity")
    below = matches[(matches["similarity"] < cutoff) & matches["match"].notna()]
    outside = below.nlargest(each, "similarity")
    return pd.concat([inside.assign(side="just inside: near-twin"),
                      outside.assign(side="just outside: different part")], ignore_index=True)


def twin_counts(flagged: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Per class of `split`: images, linked by near-twins to a train/val image, and not."""
    rows = flagged[flagged["split"] == split]
    counts = rows.groupby("class_name").agg(images=("path", "size"), near_twin_in_train=("twin_seen", "sum"))
    counts["no_twin_in_train"] = counts["images"] - counts["near_twin_in_train"]
    counts.loc["all"] = counts.sum()
    return counts
