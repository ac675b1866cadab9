"""Writes PNG and JPEG variants and the pixels PIL's Image.open(path).convert("RGB") gives
for each (<name>.rgb: width·height·3 bytes, row-major), the loaders' reference.

PNGs are assembled here chunk by chunk (so gAMA, tRNS, 16-bit samples, low bit depths and
Adam7 interlacing are all exercised exactly); JPEGs are written by PIL.
Run: python make.py (needs Pillow)."""
import struct, zlib, json
from PIL import Image

W, H = 13, 7  # odd sizes: padding bits in low-bit-depth rows, partial interlace passes


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_row(samples, depth):
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    if depth == 8:
        return bytes(samples)
    out, acc, bits = bytearray(), 0, 0
    for s in samples:
        acc = (acc << depth) | s
        bits += depth
        if bits == 8:
            out.append(acc); acc, bits = 0, 0
    if bits:
        out.append(acc << (8 - bits))
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(name, color, depth, pixel, extra=b"", plte=None, interlace=False):
    """pixel(x, y) -> tuple of samples for the colour type."""
    raw = bytearray()
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            xs, ys = range(x0, W, dx), range(y0, H, dy)
            if not xs or not ys:
                continue
            for y in ys:
                raw += b"\x00" + pack_row([s for x in xs for s in pixel(x, y)], depth)
    else:
        for y in range(H):
            raw += b"\x00" + pack_row([s for x in range(W) for s in pixel(x, y)], depth)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, depth, color, 0, 0, 1 if interlace else 0))
    data += extra
    if plte is not None:
        data += chunk(b"PLTE", bytes(c for rgb in plte for c in rgb))
    data += chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")
    open(name + ".png", "wb").write(data)
    return name + ".png"


def v(x, y, k, scale):  # a deterministic spread of values over [0, scale]
    return (x * 37 + y * 91 + k * 53 + (x * y) % 7 * 11) % (scale + 1)


files = [
    png("rgb8", 2, 8, lambda x, y: (v(x, y, 0, 255), v(x, y, 1, 255), v(x, y, 2, 255))),
    png("rgb16", 2, 16, lambda x, y: (v(x, y, 0, 65535) | 0x8000 * (x % 2), 32768, v(x, y, 2, 65535))),
    png("rgb8-gamma", 2, 8, lambda x, y: (v(x, y, 0, 255), 128, v(x, y, 2, 255)), extra=chunk(b"gAMA", struct.pack(">I", 100000))),
    png("rgb8-interlaced", 2, 8, lambda x, y: (v(x, y, 0, 255), v(x, y, 1, 255), v(x, y, 2, 255)), interlace=True),
    png("rgba8", 6, 8, lambda x, y: (v(x, y, 0, 255), v(x, y, 1, 255), v(x, y, 2, 255), 0 if x < 5 else v(x, y, 3, 255))),
    png("rgba16", 6, 16, lambda x, y: (v(x, y, 0, 65535), v(x, y, 1, 65535), v(x, y, 2, 65535), 0)),
    png("gray1", 0, 1, lambda x, y: ((x + y) % 2,)),
    png("gray2", 0, 2, lambda x, y: (v(x, y, 0, 3),)),
    png("gray4", 0, 4, lambda x, y: (v(x, y, 0, 15),)),
    png("gray8", 0, 8, lambda x, y: (v(x, y, 0, 255),)),
    png("gray16", 0, 16, lambda x, y: (v(x, y, 0, 65535),)),
    png("gray8-trns", 0, 8, lambda x, y: (v(x, y, 0, 255),), extra=chunk(b"tRNS", struct.pack(">H", 37))),
    png("gray-alpha8", 4, 8, lambda x, y: (v(x, y, 0, 255), 0)),
    png("gray-alpha16", 4, 16, lambda x, y: (v(x, y, 0, 65535), v(x, y, 1, 65535))),
    png("palette8", 3, 8, lambda x, y: (v(x, y, 0, 15),), plte=[(i * 16, 255 - i * 9, (i * 71) % 256) for i in range(16)]),
    png("palette4-trns", 3, 4, lambda x, y: (v(x, y, 0, 15),), plte=[(i * 16, 255 - i * 9, (i * 71) % 256) for i in range(16)],
        extra=b""),
]
# tRNS must follow PLTE: rewrite palette4-trns with one.
data = open("palette4-trns.png", "rb").read()
idat = data.index(b"IDAT") - 4
data = data[:idat] + chunk(b"tRNS", bytes([0, 128] + [255] * 14)) + data[idat:]
open("palette4-trns.png", "wb").write(data)

source = Image.frombytes("RGB", (W * 4, H * 4), bytes(v(x, y, k, 255) for y in range(H * 4) for x in range(W * 4) for k in range(3)))
source.save("baseline.jpg", quality=90)
source.save("progressive.jpg", quality=90, progressive=True)
source.convert("L").save("gray.jpg", quality=90)
source.save("subsampling-444.jpg", quality=95, subsampling=0)
files += ["baseline.jpg", "progressive.jpg", "gray.jpg", "subsampling-444.jpg"]
source.convert("CMYK").save("cmyk.jpg", quality=90)  # refused by the loaders: not in expected.json

sizes = {}
for f in files:
    image = Image.open(f)
    mode = image.mode
    rgb = image.convert("RGB")
    open(f.rsplit(".", 1)[0] + ".rgb", "wb").write(rgb.tobytes())
    sizes[f] = {"width": rgb.width, "height": rgb.height, "pil_mode": mode}
json.dump(sizes, open("expected.json", "w"), indent=1, sort_keys=True)
import PIL
print("Pillow", PIL.__version__, "wrote", len(files), "images")
