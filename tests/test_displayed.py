"""Photos read as viewers show them: EXIF orientation applied, ICC-tagged colours converted to sRGB."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from photostyle import __version__, read_image, save_image, to_tensor
from photostyle._displayed import displayed_size, orientation
from photostyle.masks import load_mask
from photostyle.segmentation import load_label_map

from ._icc import SRGB_BLUE, SRGB_GREEN, SRGB_RED, rgb_profile
from ._shared import dpst_pair

# What each EXIF orientation asks a viewer to do to the stored pixels (EXIF 2.32, tag 0x0112), in numpy
UPRIGHT = {
    1: lambda a: a,
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, -1),  # a quarter turn clockwise: a phone held upright, home button down
    7: lambda a: np.rot90(np.swapaxes(a, 0, 1), 2),
    8: lambda a: np.rot90(a, 1),
}


def _stored(shape=(20, 30, 3), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _exif(value: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("value", range(1, 9))
def test_every_exif_orientation_is_applied_on_read(tmp_path, value, suffix):
    """PNG: the EXIF chunk; TIFF: the orientation tag, which Pillow's TIFF reader applies itself (it must
    not be applied twice, and the header's size is already upright)."""
    stored = _stored()
    path = tmp_path / f"o{value}{suffix}"
    Image.fromarray(stored).save(path, exif=_exif(value))
    expected = UPRIGHT[value](stored)
    assert np.array_equal(read_image(path), expected)
    with Image.open(path) as im:
        assert orientation(im) == value
        assert displayed_size(im) == (expected.shape[1], expected.shape[0])  # from the header
    # a PIL image handed over by the user is turned the same way
    assert torch.equal(to_tensor(Image.open(path)), to_tensor(np.ascontiguousarray(expected)))


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_uncompressed_grey_and_rgba_tiffs_with_a_quarter_turn_read_right(tmp_path, mode):
    """Opened by name, Pillow 13 maps such a file and decodes it into the wrong shape (stripes); the
    readers open files as file objects."""
    stored = _stored((20, 30, 4) if mode == "RGBA" else (20, 30))
    path = tmp_path / f"turned_{mode}.tif"
    Image.fromarray(stored, mode=mode).save(path, exif=_exif(6))
    assert np.array_equal(read_image(path), np.rot90(stored, -1))


def test_a_phone_portrait_jpeg_comes_out_upright(tmp_path):
    """Stored 30 wide and 20 high with orientation 6, as a phone writes a portrait photo."""
    stored = _stored()
    path = tmp_path / "portrait.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=_exif(6))
    with Image.open(path) as im:
        raw = np.asarray(im.convert("RGB"))  # the decoder's own pixels, as stored
    assert raw.shape == (20, 30, 3)
    assert np.array_equal(read_image(path), np.rot90(raw, -1))
    assert tuple(to_tensor(path).shape) == (1, 3, 30, 20)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_masks_are_turned_with_their_orientation_but_keep_their_ids(tmp_path, suffix):
    stored = np.zeros((20, 30), dtype=np.uint8)
    stored[:, :10] = 1  # label 1 on the stored image's left third
    path = tmp_path / f"mask{suffix}"
    Image.fromarray(stored, mode="L").save(path, exif=_exif(6))
    expected = np.rot90(stored, -1).astype(np.int64)  # upright: label 1 on the top third
    assert np.array_equal(load_label_map(path), expected)
    assert np.array_equal(load_mask(path, name="content_mask"), expected)
    # bounded on read (a mask larger than its use): turned before it is brought down
    small = load_mask(path, name="content_mask", max_side=15)
    assert small.shape == (15, 10) and (small[:5] == 1).all() and (small[5:] == 0).all()


def _tagged(tmp_path, profile: bytes, name: str, suffix: str = ".png", mode: str = "RGB"):
    stored = _stored(seed=1)
    image = Image.fromarray(stored)
    if mode == "RGBA":
        image.putalpha(200)
    path = tmp_path / f"{name}{suffix}"
    image.save(path, icc_profile=profile)
    return stored, path


def test_colours_of_another_profile_are_converted_to_srgb(tmp_path):
    """A profile whose red and green colorants are sRGB's green and red: (r, g, b) there is the sRGB colour
    (g, r, b), so the conversion must swap the two channels (within lcms's rounding of one level)."""
    swapped = rgb_profile(SRGB_GREEN, SRGB_RED, SRGB_BLUE, description="red and green swapped")
    stored, path = _tagged(tmp_path, swapped, "swapped")
    got = read_image(path).astype(int)
    assert np.abs(got - stored[..., [1, 0, 2]]).max() <= 1
    assert np.abs(got - stored).max() > 100  # not read as if it were sRGB
    # alpha is kept as it was (the photo is composited over white later, with its warning)
    _, rgba = _tagged(tmp_path, swapped, "swapped_rgba", mode="RGBA")
    got = read_image(rgba)
    assert got.shape == (20, 30, 4) and (got[..., 3] == 200).all()
    assert np.abs(got[..., :3].astype(int) - stored[..., [1, 0, 2]]).max() <= 1


def test_srgb_tagged_and_untagged_photos_are_left_as_they_are(tmp_path):
    for profile, name in ((ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(), "builtin"),
                          (rgb_profile(description="sRGB IEC61966-2.1"), "named")):
        stored, path = _tagged(tmp_path, profile, name)
        assert np.array_equal(read_image(path), stored)


def test_a_profile_that_cannot_be_read_warns_and_keeps_the_values(tmp_path):
    stored, path = _tagged(tmp_path, b"this is no ICC profile", "broken")
    with pytest.warns(UserWarning, match=r"broken\.png'.*embedded colour profile cannot be applied .*used as sRGB"):
        got = read_image(path)
    assert np.array_equal(got, stored)


def test_label_maps_keep_their_colours_whatever_their_profile(tmp_path):
    """A colour mask's colours are ids: a profile must not move them to other palette entries."""
    stored = np.zeros((20, 30, 3), dtype=np.uint8)
    stored[:, 15:] = (255, 0, 0)  # DPST red beside black
    path = tmp_path / "mask.png"
    Image.fromarray(stored).save(path, icc_profile=rgb_profile(SRGB_GREEN, SRGB_RED, SRGB_BLUE))
    labels = load_label_map(path)
    plain = tmp_path / "plain.png"
    Image.fromarray(stored).save(plain)
    assert np.array_equal(labels, load_label_map(plain)) and len(np.unique(labels)) == 2


def test_a_corrupt_exif_block_reads_as_no_orientation(tmp_path):
    stored = _stored()
    path = tmp_path / "bad_exif.png"
    Image.fromarray(stored).save(path, exif=b"Exif\x00\x00garbage that is no TIFF header")
    assert np.array_equal(read_image(path), stored)
    with Image.open(path) as im:
        assert orientation(im) == 1 and displayed_size(im) == (30, 20)


def _camera_exif(orientation_value: int = 6) -> Image.Exif:
    """EXIF as a camera writes it: make, model, time, exposure, a maker note, GPS and an orientation."""
    exif = _exif(orientation_value)
    exif[0x010F], exif[0x0110], exif[0x0132] = "TestCam", "TC-1", "2026:12:04 10:00:00"
    exif[0x0131] = "camera firmware 1.0"
    exif[0x8769] = {0x9003: "2026:12:04 10:00:00", 0x829A: 0.008, 0x927C: b"maker bytes with offsets",
                    0xA002: 4032, 0xA003: 3024}
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 30.0)}
    return exif


def test_save_image_carries_the_photos_exif_upright_at_the_new_size(tmp_path):
    source = tmp_path / "camera.jpg"
    Image.fromarray(_stored()).save(source, exif=_camera_exif())
    result = np.zeros((24, 16, 3), dtype=np.uint8)  # as made from the upright photo, another size
    for suffix in (".jpg", ".png", ".webp", ".tif"):
        out = save_image(result, tmp_path / f"out{suffix}", metadata_from=source)
        with Image.open(out) as im:
            exif = im.getexif()
            details, gps = exif.get_ifd(0x8769), exif.get_ifd(0x8825)
        assert (exif[0x010F], exif[0x0110], exif[0x0132]) == ("TestCam", "TC-1", "2026:12:04 10:00:00"), suffix
        assert exif[0x0131] == f"photostyle {__version__}"  # the software that wrote these pixels
        assert 0x0112 not in exif, suffix  # the pixels are upright: no orientation to apply again
        assert details[0x9003] == "2026:12:04 10:00:00" and abs(float(details[0x829A]) - 0.008) < 1e-6
        assert (details[0xA002], details[0xA003]) == (16, 24), suffix  # the new size
        assert 0x927C not in details  # the maker note's offsets point into the old file
        assert gps[1] == "N" and tuple(float(v) for v in gps[2]) == (48.0, 51.0, 30.0)
    bare = save_image(result, tmp_path / "bare.jpg")  # without metadata_from: no EXIF at all
    with Image.open(bare) as im:
        assert not len(im.getexif())
    plain = tmp_path / "plain.png"
    Image.fromarray(_stored()).save(plain)  # a photo without EXIF gives none, not a lone Software tag
    with Image.open(save_image(result, tmp_path / "from_plain.jpg", metadata_from=plain)) as im:
        assert not len(im.getexif())


def test_jpeg_is_written_at_high_quality_with_full_chroma(tmp_path):
    """PIL's default (quality 75, 4:2:0) smears a result's colour edges; the writer keeps them."""
    from photostyle import to_numpy

    photo = to_numpy(to_tensor(dpst_pair(9)["content"]))
    out = save_image(photo, tmp_path / "q.jpg")
    with Image.open(out) as im:
        assert im.layer[0][1:3] == im.layer[1][1:3] == (1, 1)  # chroma not subsampled
        back = np.asarray(im).astype(np.float64)
    assert np.abs(back - photo.astype(np.float64)).mean() < 1.1  # 8-bit levels (PIL default: 2.2, 95 with 4:2:0: 1.35)


# ---- 16 bits per channel -----------------------------------------------------------------------------

tifffile = pytest.importorskip("tifffile")  # a dependency of scikit-image


def _deep(shape=(20, 30, 3), seed=4) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, shape, dtype=np.uint16)  # the low bytes matter


@pytest.mark.parametrize("planar", ["contig", "separate"])
def test_16bit_colour_tiffs_keep_their_16_bits_upright(tmp_path, planar):
    stored = _deep()
    data = stored if planar == "contig" else np.moveaxis(stored, -1, 0)  # planes: (C, H, W); Pillow cannot open these
    plain, turned = tmp_path / "plain.tif", tmp_path / "turned.tif"
    tifffile.imwrite(plain, data, photometric="rgb", planarconfig=planar, compression="zlib")
    tifffile.imwrite(turned, data, photometric="rgb", planarconfig=planar, extratags=[(274, "H", 1, 6, True)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "read at 8 bits" warning
        assert np.array_equal(read_image(plain), stored)
        assert np.array_equal(read_image(turned), np.rot90(stored, -1))


#: Adobe RGB (1998) and Display P3 colorants adapted to D50, as their ICC profiles give them
ADOBE_RGB = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446))
DISPLAY_P3 = ((0.5151, 0.2412, -0.0011), (0.2919, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))


def test_a_16bit_tiff_in_another_colour_space_is_converted_to_srgb_at_16_bits(tmp_path):
    """Swapped colorants: the channels swap, at 16 bits. Adobe RGB and Display P3: the same as littlecms's
    own conversion of the same values (8-bit ones, which it can convert), within one 8-bit level."""
    stored = _deep()
    path = tmp_path / "swapped.tif"
    tifffile.imwrite(path, stored, photometric="rgb", iccprofile=rgb_profile(SRGB_GREEN, SRGB_RED, SRGB_BLUE))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = read_image(path)
    assert got.dtype == np.uint16
    assert np.abs(got.astype(int) - stored[..., [1, 0, 2]].astype(int)).max() <= 40  # of 65535 (21 measured): s15Fixed16 colorants
    eight = np.random.default_rng(5).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    for colorants in (ADOBE_RGB, DISPLAY_P3):
        profile = rgb_profile(*colorants)
        tifffile.imwrite(path, eight.astype(np.uint16) * 257, photometric="rgb", iccprofile=profile)
        ours = read_image(path).astype(np.float64) / 257
        reference = ImageCms.profileToProfile(Image.fromarray(eight), ImageCms.ImageCmsProfile(io.BytesIO(profile)),
                                              ImageCms.createProfile("sRGB"), renderingIntent=1, outputMode="RGB")
        assert np.abs(ours - np.asarray(reference)).max() <= 1.0
        assert np.abs(ours - eight).mean() > 2  # a real conversion, not the values as they were


def test_a_16bit_tiff_with_a_lookup_table_profile_is_read_at_8_bits(tmp_path):
    from photostyle._icc16 import matrix_trc

    profile = bytearray(rgb_profile(ADOBE_RGB[0], ADOBE_RGB[1], ADOBE_RGB[2]))
    profile[132:136] = b"A2B0"  # the first tag (desc) renamed: a look-up-table profile to the reader
    assert matrix_trc(bytes(profile)) is None and matrix_trc(rgb_profile(*ADOBE_RGB)) is not None
    path = tmp_path / "lut.tif"
    tifffile.imwrite(path, _deep(), photometric="rgb", iccprofile=bytes(profile))
    with pytest.warns(UserWarning) as caught:
        got = read_image(path)
    assert got.dtype == np.uint8
    assert any(str(w.message).endswith("lut.tif' is a 16-bit colour TIFF with a colour profile of look-up tables; it "
                                       "is read at 8 bits per channel to convert it to sRGB (export it in sRGB or "
                                       "Adobe RGB to keep its 16 bits).") for w in caught)


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_16bit_outputs_round_trip_and_carry_exif(tmp_path, suffix):
    from photostyle._deep import as_uint16

    image = torch.rand(1, 3, 20, 30)
    expected = as_uint16(image[0].permute(1, 2, 0).numpy())
    source = tmp_path / "camera.jpg"
    Image.fromarray(_stored()).save(source, exif=_camera_exif(1))
    out = save_image(image, tmp_path / f"deep{suffix}", bits=16, metadata_from=source)
    if suffix == ".tif":
        back = tifffile.imread(out)
    else:  # Pillow reads 16-bit colour PNGs at 8 bits; photostyle._png16 reads them whole
        back = read_image(out)
        try:  # and libpng agrees, where OpenCV (an extra) is installed
            import cv2
        except ImportError:
            cv2 = None
        if cv2 is not None:
            assert np.array_equal(cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., ::-1], back)
    assert back.dtype == np.uint16 and np.array_equal(back, expected)
    with Image.open(out) as im:
        assert im.size == (30, 20) and im.getexif()[0x010F] == "TestCam"
        assert im.getexif()[0x0131] == f"photostyle {__version__}"
    with pytest.raises(ValueError, match=r"16 bits per channel are written as PNG or TIFF, not '\.jpg'; name it e\.g\. "
                                         r"'deep\.tif', or write 8 bits\."):
        save_image(image, tmp_path / "deep.jpg", bits=16)
    assert not (tmp_path / "deep.jpg").exists()


def test_a_16bit_tiff_with_an_unreadable_profile_warns_twice_and_is_read(tmp_path):
    path = tmp_path / "broken.tif"
    tifffile.imwrite(path, _deep(), photometric="rgb", iccprofile=b"this is no ICC profile")
    with pytest.warns(UserWarning) as caught:
        got = read_image(path)
    assert got.shape == (20, 30, 3) and got.dtype == np.uint8
    messages = [str(w.message) for w in caught]
    assert any("embedded colour profile cannot be applied" in m for m in messages)
    assert any(m.endswith("broken.tif' is a 16-bit colour TIFF; it is read at 8 bits per channel.") for m in messages)
