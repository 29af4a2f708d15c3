"""The brand images Home Assistant shows for the integration (custom_components/iot_zinx/brand/).

Since Home Assistant 2026.3 a custom integration ships its own brand images; the brands
repository no longer takes them. They are rendered from brand/*.svg by scripts/render_brand.
"""

from __future__ import annotations

from pathlib import Path
import struct

import pytest

BRAND = Path(__file__).resolve().parents[1] / "custom_components" / "iot_zinx" / "brand"
SOURCES = Path(__file__).resolve().parents[1] / "brand"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG's IHDR chunk, which always comes first."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("variant", ["", "dark_"])
def test_icons_are_square_at_256_and_512(variant: str) -> None:
    assert png_size(BRAND / f"{variant}icon.png") == (256, 256)
    assert png_size(BRAND / f"{variant}icon@2x.png") == (512, 512)


@pytest.mark.parametrize("variant", ["", "dark_"])
def test_logos_are_128_high_and_landscape(variant: str) -> None:
    width, height = png_size(BRAND / f"{variant}logo.png")
    assert height == 128
    assert width > height
    assert png_size(BRAND / f"{variant}logo@2x.png") == (2 * width, 2 * height)


def test_only_the_images_home_assistant_serves() -> None:
    """The brands view serves exactly these names; anything else would be dead weight."""
    assert {path.name for path in BRAND.iterdir()} == {
        f"{variant}{kind}{scale}.png"
        for variant in ("", "dark_")
        for kind in ("icon", "logo")
        for scale in ("", "@2x")
    }


def test_vector_sources_are_in_the_repository() -> None:
    for name in ("icon.svg", "logo.svg"):
        assert (SOURCES / name).read_text().lstrip().startswith("<?xml")
