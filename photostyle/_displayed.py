"""A photo as a viewer shows it: its EXIF orientation applied and its colours brought to sRGB.

Cameras and phones store a portrait photo as a landscape sensor readout plus an EXIF ``Orientation``
tag, and many tag their pixels with a colour profile other than sRGB (Display P3 on phones, Adobe RGB
on cameras). Every viewer applies both; a library that reads the raw pixels works on a photo turned on
its side, whose masks (drawn on the upright photo) have the other aspect ratio, and whose colours are
flatter than what the user sees. :func:`as_displayed` applies both, :func:`displayed_size` gives the
upright size from the header alone. Label maps get the orientation only: their colours are ids.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

#: EXIF orientations (2-8) that swap width and height (a transpose or a quarter turn).
_SWAPS_AXES = frozenset({5, 6, 7, 8})
_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}


def orientation(im: Image.Image) -> int:
    """The image's EXIF orientation (1-8; 1 where it has none or an invalid one), read from the header."""
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a corrupt EXIF block is read as no orientation, like viewers do
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def displayed_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) of the upright photo: the header's size, swapped for orientations 5-8 (where the
    reader has not turned it already: Pillow's TIFF reader reports and decodes TIFFs upright)."""
    width, height = im.size
    if orientation(im) not in _SWAPS_AXES:
        return width, height
    tags = getattr(im, "tag_v2", None)
    stored = (tags.get(256), tags.get(257)) if tags is not None else None  # ImageWidth, ImageLength
    if stored is not None and stored != (width, height):
        return width, height
    return height, width


# EXIF orientation -> the numpy operation that turns the stored pixels (rows, columns, ...) upright
_UPRIGHT_ARRAY = {
    2: np.fliplr, 3: lambda a: np.rot90(a, 2), 4: np.flipud, 5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(np.swapaxes(a, 0, 1), 2), 8: lambda a: np.rot90(a, 1),
}


def upright_array(arr: np.ndarray, value: int) -> np.ndarray:
    """``arr`` (H, W, ...) as stored, turned upright for EXIF orientation ``value`` (contiguous; ``arr``
    itself for 1 or an invalid value)."""
    return np.ascontiguousarray(_UPRIGHT_ARRAY[value](arr)) if value in _UPRIGHT_ARRAY else arr


def upright(im: Image.Image) -> Image.Image:
    """``im`` with its EXIF orientation applied (the same image where there is none)."""
    value = orientation(im)
    if value == 1:
        return im
    try:
        return ImageOps.exif_transpose(im)  # also drops the tag from the image's EXIF
    except Exception:  # noqa: BLE001 - an EXIF block PIL reads but cannot write back: turn the pixels only
        return im.transpose(_TRANSPOSE[value])


def _is_srgb(profile) -> bool:
    from PIL import ImageCms

    description = ImageCms.getProfileDescription(profile) or ""
    return "srgb" in description.lower().replace(" ", "").replace("-", "")


def profile_is_srgb(icc: bytes | None, *, unreadable: bool = True) -> bool:
    """Whether an embedded ICC profile (None: none) leaves the values as sRGB; an unreadable one counts
    as ``unreadable`` (default True: its values are used as they are, see :func:`to_srgb`)."""
    if not icc:
        return True
    try:
        from PIL import ImageCms

        return _is_srgb(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except Exception:  # noqa: BLE001 - lcms raises several types on bad profiles
        return unreadable


def to_srgb(im: Image.Image, *, name: str = "image") -> Image.Image:
    """``im``'s colours converted from its embedded ICC profile to sRGB (relative colorimetric, as
    browsers do); the same image where it has no profile, an sRGB one, or is grey or 16-bit.

    A profile that cannot be read or applied is said in a warning, and the values are used as sRGB.
    """
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK", "P", "PA"):
        return im
    try:
        from PIL import ImageCms

        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if _is_srgb(source):
            return im
        if im.mode in ("P", "PA"):
            im = im.convert("RGBA" if (im.mode == "PA" or "transparency" in im.info) else "RGB")
        alpha = im.getchannel("A") if im.mode == "RGBA" else None
        rgb = im.convert("RGB") if im.mode == "RGBA" else im
        converted = ImageCms.profileToProfile(
            rgb, source, ImageCms.createProfile("sRGB"),
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC, outputMode="RGB",
        )
    except Exception as exc:  # noqa: BLE001 - lcms raises PyCMSError, OSError, ValueError... on bad profiles
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        warnings.warn(
            f"{name}: its embedded colour profile cannot be applied ({detail}); its values are used as sRGB. "
            "Convert it to sRGB in a photo editor if its colours look wrong.",
            stacklevel=4,
        )
        return im
    if alpha is not None:
        converted.putalpha(alpha)
    return converted


def as_displayed(im: Image.Image, *, name: str = "image") -> Image.Image:
    """The photo as a viewer shows it: EXIF orientation applied (:func:`upright`), then sRGB (:func:`to_srgb`)."""
    return to_srgb(upright(im), name=name)


#: IFD0 tags that describe the photo (a new file writes its own layout tags: size, strips, compression)
_DESCRIPTIVE = (0x010E, 0x010F, 0x0110, 0x0132, 0x013B, 0x8298)  # description, make, model, date, artist, (c)
_SOFTWARE, _EXIF_IFD, _GPS_IFD = 0x0131, 0x8769, 0x8825
#: Exif sub-IFD tags not carried: the maker note (offsets into the old file), the interoperability
#: pointer, and the pixel dimensions (written anew for the new image)
_NOT_CARRIED = frozenset({0x927C, 0xA005, 0xA002, 0xA003})


def carried_exif(source, size: tuple[int, int], software: str) -> bytes | None:
    """EXIF for a new image of ``size`` (width, height) made from the photo at ``source``: its camera,
    capture and GPS tags, ``software`` as the Software tag, and no orientation (the new pixels are
    upright), no thumbnail (it would show the old picture) and no maker note. None where ``source`` has
    no EXIF or it cannot be read."""
    try:
        with Image.open(source) as im:
            exif = im.getexif()
            if not len(exif):
                return None
            details, gps = dict(exif.get_ifd(_EXIF_IFD)), dict(exif.get_ifd(_GPS_IFD))
            new = Image.Exif()
            for tag in _DESCRIPTIVE:
                if tag in exif:
                    new[tag] = exif[tag]
            new[_SOFTWARE] = software
            details = {tag: value for tag, value in details.items() if tag not in _NOT_CARRIED}
            new[_EXIF_IFD] = {**details, 0xA002: int(size[0]), 0xA003: int(size[1])}
            if gps:
                new[_GPS_IFD] = gps
            return new.tobytes()
    except Exception as exc:  # noqa: BLE001 - metadata is carried where it can be read, never at the cost of the image
        warnings.warn(f"the EXIF metadata of '{source}' cannot be carried into the result ({type(exc).__name__}: "
                      f"{str(exc)[:120]}); the result is written without it.", stacklevel=3)
        return None
