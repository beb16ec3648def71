"""The gallery: every content x style pair in ../shared/images with painterly's defaults, both
colour modes on one pair and one masked example, as small JPEGs and a contact sheet.

    .venv/bin/python bench/gallery.py [--size 512] [--out docs/gallery] [--force]

What may be published follows ../shared/images/SOURCES.md: pictures made only from the
images it lists as free to copy go to --out and its contact sheet (committed); pictures made
from any other photo or painting (under copyright or of unclear licence) go to --out/local/,
which git ignores, with a contact sheet of everything, for looking at here. Pictures that
exist already are kept (a rerun finishes an interrupted gallery); --force renders anew.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "images"
# ../shared/images/SOURCES.md: the only images that may be copied into the project.
FREE = frozenset({"tubingen.jpg", "starry_night.jpg", "the_scream.jpg", "shipwreck.jpg"})
THUMB = 240  # contact-sheet cell width in pixels
JPEG = {"quality": 85, "optimize": True, "progressive": True}


@dataclass(frozen=True)
class Picture:
    content: Path
    style: Path
    label: str
    settings: dict[str, Any] = field(default_factory=dict)
    tag: str = ""  # added to the file name for the variations
    inputs: tuple[str, ...] = ()  # files besides content and style that the picture uses

    @property
    def free(self) -> bool:
        names = {self.content.name, self.style.name, *self.inputs}
        return names <= FREE | {"tubingen_sky.png"}  # the mask is drawn from tubingen.jpg

    @property
    def name(self) -> str:
        tag = f"__{self.tag}" if self.tag else ""
        return f"{self.content.stem}__{self.style.stem}{tag}.jpg"


def pictures() -> list[Picture]:
    contents = sorted((SHARED / "content").iterdir())
    styles = sorted((SHARED / "style").iterdir())
    out = [Picture(c, s, f"{c.stem} x {s.stem}") for c in contents for s in styles]
    tubingen = SHARED / "content" / "tubingen.jpg"
    scream = SHARED / "style" / "the_scream.jpg"
    for mode in ("luminance", "histogram"):
        out.append(Picture(tubingen, scream, f"colour: {mode}", {"preserve_color": mode}, tag=mode))
    mask = ROOT / "examples" / "tubingen_sky.png"
    starry = SHARED / "style" / "starry_night.jpg"
    out.append(
        Picture(tubingen, starry, "mask: sky only", {"mask": str(mask)}, "sky", (mask.name,))
    )
    return out


def render(picture: Picture, size: int, extractor: Any) -> Image.Image:
    import painterly
    from painterly import io

    options = dict(picture.settings)
    inputs = painterly.Inputs.of(picture.content, picture.style, mask=options.pop("mask", None))
    job = painterly.prepare(inputs, size=size, seed=0, extractor=extractor, **options)
    last = None
    for progress in job.run():
        last = progress
    assert last is not None
    return io.to_pil(last.image())


def contact_sheet(cells: list[tuple[str, Image.Image]], columns: int) -> Image.Image:
    """A grid of labelled thumbnails, ``columns`` wide; each fits a 4:3 box, centred."""
    box_w, box_h = THUMB, THUMB * 3 // 4
    rows = -(-len(cells) // columns)
    sheet = Image.new("RGB", (columns * (box_w + 8) + 8, rows * (box_h + 26) + 8), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, image) in enumerate(cells):
        x, y = 8 + (i % columns) * (box_w + 8), 8 + (i // columns) * (box_h + 26)
        thumb = image.copy()
        thumb.thumbnail((box_w, box_h))
        sheet.paste(thumb, (x + (box_w - thumb.width) // 2, y + (box_h - thumb.height) // 2))
        draw.text((x, y + box_h + 4), label, fill="black")
    return sheet


def index(cells: list[tuple[Picture, Image.Image]], size: int) -> str:
    """docs/gallery/README.md: the publishable pictures, each with the command that made it."""
    kept = sum(1 for pic in pictures() if not pic.free)  # rendered or not (--free-only)
    lines = [
        "# Gallery",
        "",
        f"Made by `make gallery` (`bench/gallery.py`): painterly's defaults at {size} px, seed 0,",
        "one run each, no per-image tuning. Only pictures made from images that",
        "`../shared/images/SOURCES.md` lets us publish are here (Tübingen by Andreas Praefcke,",
        "CC BY 3.0; Van Gogh, Munch and Turner, public domain). The other "
        f"{kept} pictures of the run",
        "use images that SOURCES.md keeps in ../shared (under copyright or of unclear",
        "licence), so they stay on the machine that made them (`docs/gallery/local/`, not",
        "committed).",
        "",
        "![contact sheet](contact-sheet.jpg)",
        "",
    ]
    for pic, _ in cells:
        if not pic.free:
            continue
        options = "".join(
            f" --{k.replace('_', '-')} {Path(v).name if k == 'mask' else v}"
            for k, v in pic.settings.items()
        )
        lines += [
            f"## {pic.label}",
            "",
            f"`painterly {pic.content.name} {pic.style.name} -o out.png --seed 0{options}`",
            "",
            f"![{pic.label}]({pic.name})",
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "gallery")
    p.add_argument("--force", action="store_true", help="render pictures that exist again")
    p.add_argument("--free-only", action="store_true", help="only the publishable pictures")
    args = p.parse_args()

    from painterly import weights
    from painterly.features import VGGFeatures
    from painterly.settings import Settings

    s = Settings()
    extractor = VGGFeatures(weights.load(s.weights), s.content_layers + s.style_layers)
    local = args.out / "local"
    local.mkdir(parents=True, exist_ok=True)
    (local / ".gitignore").write_text("*\n")  # never committed: see SOURCES.md
    cells: list[tuple[Picture, Image.Image]] = []
    todo = [pic for pic in pictures() if pic.free or not args.free_only]
    for number, pic in enumerate(todo, start=1):
        path = (args.out if pic.free else local) / pic.name
        if args.force or not path.exists():
            began = time.perf_counter()
            image = render(pic, args.size, extractor)
            tmp = path.with_suffix(".part.jpg")
            image.save(tmp, "JPEG", **JPEG)
            tmp.replace(path)
            took = time.perf_counter() - began
            print(f"[{number}/{len(todo)}] {path.relative_to(ROOT)} {took:.0f} s", flush=True)
        cells.append((pic, Image.open(path).convert("RGB")))
    free = [(pic.label, image) for pic, image in cells if pic.free]
    contact_sheet(free, columns=3).save(args.out / "contact-sheet.jpg", "JPEG", **JPEG)
    (args.out / "README.md").write_text(index(cells, args.size))
    everything = [(pic.label, image) for pic, image in cells]
    contact_sheet(everything, columns=6).save(local / "contact-sheet-all.jpg", "JPEG", **JPEG)
    return 0


if __name__ == "__main__":
    sys.exit(main())
