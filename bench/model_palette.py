"""Add the painting's palette to a model file trained before painterly recorded it:

    .venv/bin/python bench/model_palette.py MODEL PAINTING [PAINTING ...]

``painterly apply --preserve-color painting`` recolours a result with the palette in the
model's record (the heaviest painting's colour mean and covariance), which ``painterly
train`` writes since 2026-12-05. This computes it as training does, from the paintings the
record names, after checking each one's SHA-256 against the record, and rewrites the file
with the same weights. Used once, for the three bundled models (docs/fast.md).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path)
    p.add_argument("paintings", type=Path, nargs="+", help="the record's paintings, in order")
    args = p.parse_args()

    from painterly import fast, io, modelfile
    from painterly.settings import Settings

    model = modelfile.load(args.model)
    styles = model.record["styles"]
    if len(styles) != len(args.paintings):
        raise SystemExit(f"the record names {len(styles)} paintings, {len(args.paintings)} given")
    settings = Settings.from_dict(model.record["settings"])
    loaded = []
    for entry, path in zip(styles, args.paintings, strict=True):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != entry["sha256"]:
            raise SystemExit(f"{path}: SHA-256 {digest}, the record's {entry['name']} has another")
        loaded.append((io.load_image(path, settings.max_input_pixels), entry["weight"]))
    record = {k: v for k, v in model.record.items() if k not in ("format", "net")}
    record["palette"] = fast.palette_record(loaded)
    modelfile.save(args.model, model.net, record)
    print(f"{args.model}: palette {record['palette']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
