"""The second, stronger test for candidate pairs the plain hashes cannot decide (no Django here).

Two kinds of candidates come here, and each joins a group only if this test says the two pictures show the same
pixels:

- **Turned or mirrored copies** (found by their hash variants, ``catalog.media.dihedral``): the first picture is
  turned the way the variant says and both get the 256-bit fine hashes, which must agree within the same bounds
  as any other near-duplicate pair.
- **Crops, frames, straightened copies** (same capture, or close plain hashes that the fine hashes refused):
  ORB keypoints matched across the two pictures, a similarity transform (scale, a turn of a few degrees, a shift)
  fitted by RANSAC, and then the overlap: the part of the first picture that lands inside the second is warped
  onto it, and the fine hashes of the two overlapping regions must agree within the usual bounds. Keypoints alone
  would join the other camera of a stereo rig or the same view minutes later (the scenery matches); the overlap's
  pixels do not.

Both tests work on the catalog's thumbnails (512 px): enough for keypoints and for the fine hashes, which shrink
to 64 px anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from catalog.media.dihedral import IDENTITY, ROTATE_90, ROTATE_180, ROTATE_270
from catalog.media.hashing import fine_hash

MIN_KEYPOINTS = 40
MIN_INLIERS = 12
MIN_INLIER_SHARE = 0.25  # of the matches that pass the ratio test (the overlap check decides)
RATIO = 0.75  # Lowe's ratio test
MAX_TURN_DEGREES = 8.0  # straightening turns a picture by a few degrees; more is another picture, or a turn
SCALES = (0.4, 2.5)  # how much bigger or smaller the second picture may be
MIN_OVERLAP = 0.6  # of the smaller picture's area: a crop keeps most of the picture
REPROJECTION_PX = 2.0  # at 512 px
CROP_MARGIN = 0.01  # an edge this far (of the side) inside the other picture counts as cut
WORKING_SIDE = 480
MAX_ENLARGE = 8.0
FRAME_TEXTURE = 12.0  # grey levels of standard deviation: a border or mat is plain, the rest of a scene is not


@dataclass(frozen=True)
class Alignment:
    """How the second picture relates to the first: scale, turn in degrees, and what was cut or added."""

    scale: float
    degrees: float  # beyond the quarter turns: straightening
    cropped: bool  # the second shows less than the first
    framed: bool  # the second has something around the first (a border, a frame)
    fine_dhash: int
    fine_phash: int
    turn: int = IDENTITY  # a quarter or half turn the second has (``Image.Transpose`` code)
    wider: bool = False  # the second shows more of the scene around the first: seen the other way, a crop

    @property
    def derived(self) -> bool:
        """The second is an edit of the first: cut, framed or straightened from it."""
        return not self.wider and (self.cropped or self.framed or abs(self.degrees) >= 0.5)

    def words(self) -> str:
        parts = []
        if abs(self.degrees) >= 0.5:
            parts.append("straightened")
        if self.cropped:
            parts.append("cropped")
        if self.framed:
            parts.append("framed")
        return ", ".join(parts) or "recompressed"


def fine_distances(a: Image.Image, b: Image.Image) -> tuple[int, int]:
    """256-bit dHash and pHash distances of two pictures."""
    words_a = np.frombuffer(fine_hash(a.convert("L")), dtype=np.uint8)
    words_b = np.frombuffer(fine_hash(b.convert("L")), dtype=np.uint8)
    bits = np.unpackbits(words_a ^ words_b)
    return int(bits[:256].sum()), int(bits[256:].sum())


def turned_alike(first: Image.Image, second: Image.Image, transform: int, fine_d: int, fine_p: int) -> bool:
    """Whether ``first`` turned or mirrored by ``transform`` (``Image.Transpose``) is ``second``, to the fine
    hashes' bounds."""
    turned = first if transform == IDENTITY else first.transpose(Image.Transpose(transform))
    d, p = fine_distances(turned, second)
    return d <= fine_d and p <= fine_p


def align(first: Image.Image, second: Image.Image, fine_d: int, fine_p: int) -> Alignment | None:
    """The alignment of ``second`` onto ``first`` when it shows the same pixels (a crop, a frame, a few degrees of
    straightening, recompression); None when it does not, or when either has too little texture to tell."""
    import cv2  # opencv-python-headless: only when there is a candidate to confirm

    first, second = _working_size(first.convert("L"), second.convert("L"))
    a = np.asarray(first)
    b = np.asarray(second)
    orb = cv2.ORB.create(nfeatures=2000)
    keys_a, desc_a = orb.detectAndCompute(a, None)
    keys_b, desc_b = orb.detectAndCompute(b, None)
    if desc_a is None or desc_b is None or len(keys_a) < MIN_KEYPOINTS or len(keys_b) < MIN_KEYPOINTS:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(desc_a, desc_b, k=2)
    good = [pair[0] for pair in matches if len(pair) == 2 and pair[0].distance < RATIO * pair[1].distance]
    if len(good) < MIN_INLIERS:
        return None
    source = np.array([keys_a[m.queryIdx].pt for m in good], dtype=np.float32)
    target = np.array([keys_b[m.trainIdx].pt for m in good], dtype=np.float32)
    model, inliers = cv2.estimateAffinePartial2D(
        source, target, method=cv2.RANSAC, ransacReprojThreshold=REPROJECTION_PX, maxIters=4000, confidence=0.995
    )
    if model is None or inliers is None:
        return None
    kept = int(inliers.sum())
    if kept < MIN_INLIERS or kept < MIN_INLIER_SHARE * len(good):
        return None
    scale = math.hypot(model[0, 0], model[1, 0])
    angle = math.degrees(math.atan2(model[1, 0], model[0, 0]))
    quarter = round(angle / 90)
    degrees = angle - 90 * quarter
    if not SCALES[0] <= scale <= SCALES[1] or abs(degrees) > MAX_TURN_DEGREES:
        return None
    # Image coordinates point down: a positive angle turns the picture clockwise (Pillow's ROTATE_270).
    turn = {0: IDENTITY, 1: ROTATE_270, -1: ROTATE_90, 2: ROTATE_180, -2: ROTATE_180}[quarter]
    height, width = b.shape
    warped = cv2.warpAffine(a, model, (width, height), flags=cv2.INTER_AREA)
    covered = cv2.warpAffine(np.full(a.shape, 255, np.uint8), model, (width, height), flags=cv2.INTER_NEAREST)
    box = _inner_box(covered > 0)
    if box is None:
        return None
    top, bottom, left, right = box
    overlap = (bottom - top) * (right - left)
    first_area = a.shape[0] * a.shape[1] * scale * scale  # the first picture's area in the second's pixels
    if overlap < MIN_OVERLAP * min(width * height, first_area):
        return None
    d, p = fine_distances(
        Image.fromarray(np.ascontiguousarray(warped[top:bottom, left:right])),
        Image.fromarray(np.ascontiguousarray(b[top:bottom, left:right])),
    )
    if d > fine_d or p > fine_p:
        return None
    margin_w, margin_h = CROP_MARGIN * width, CROP_MARGIN * height
    framed = top > margin_h or left > margin_w or height - bottom > margin_h or width - right > margin_w
    outside = b[covered == 0]
    # Picture around the first rather than a plain border: the first is a crop of the second (or the two are
    # different crops of one picture), not the second a framed copy.
    wider = framed and outside.size > 0 and float(outside.std()) > FRAME_TEXTURE
    framed = framed and not wider
    cropped = first_area > overlap * (1 + 2 * CROP_MARGIN) and not framed or (framed and first_area > overlap * 1.1)
    return Alignment(scale, degrees, bool(cropped), bool(framed), d, p, turn, wider)


def _working_size(first: Image.Image, second: Image.Image) -> tuple[Image.Image, Image.Image]:
    """Both pictures at a size where keypoints can be found and matched: a small one (a 25 % copy, a thumbnail)
    is enlarged towards the other's size, and to ``WORKING_SIDE`` at least."""
    side = max(WORKING_SIDE, *first.size, *second.size)
    out = []
    for picture in (first, second):
        longest = max(picture.size)
        factor = min(side / longest, MAX_ENLARGE)
        if factor > 1.25:
            size = (round(picture.width * factor), round(picture.height * factor))
            picture = picture.resize(size, Image.Resampling.BICUBIC)
        out.append(picture)
    return out[0], out[1]


def _inner_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """The largest axis-parallel box (top, bottom, left, right) found by shrinking the mask's bounding box until
    every pixel in it is covered (a turned picture's corners are cut off)."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows) or not len(columns):
        return None
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(columns[0]), int(columns[-1]) + 1
    while top < bottom and left < right:
        box = mask[top:bottom, left:right]
        if box.all():
            return top, bottom, left, right
        # Drop the edge with the most uncovered pixels.
        edges = {
            "top": (~box[0]).sum(), "bottom": (~box[-1]).sum(),
            "left": (~box[:, 0]).sum(), "right": (~box[:, -1]).sum(),
        }  # fmt: skip
        edge = max(edges, key=lambda name: edges[name])
        if edge == "top":
            top += 1
        elif edge == "bottom":
            bottom -= 1
        elif edge == "left":
            left += 1
        else:
            right -= 1
    return None
