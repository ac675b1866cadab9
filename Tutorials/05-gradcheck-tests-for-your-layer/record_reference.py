"""Records Tests/MyLayersTests/rmsnorm-reference.safetensors: torch.nn.RMSNorm's output and
gradients in float64, for the Swift tests to compare with. Run it with any PyTorch >= 2.4:

    python record_reference.py
"""
import json, os, struct
import torch

torch.manual_seed(0)
layer = torch.nn.RMSNorm(8, eps=1e-6, dtype=torch.float64)
with torch.no_grad():
    layer.weight.copy_(torch.rand(8, dtype=torch.float64) + 0.5)
x = torch.randn(2, 3, 8, dtype=torch.float64, requires_grad=True)
cotangent = torch.randn(2, 3, 8, dtype=torch.float64)
y = layer(x)
y.backward(cotangent)
tensors = {"input": x, "weight": layer.weight, "cotangent": cotangent, "output": y,
           "input.grad": x.grad, "weight.grad": layer.weight.grad}

# The safetensors format by hand (no extra package): an 8-byte little-endian header length,
# the JSON header padded to a multiple of 8, then the raw little-endian data.
header, data = {}, b""
for name, t in tensors.items():
    raw = t.detach().contiguous().numpy().tobytes()
    header[name] = {"dtype": "F64", "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Tests/MyLayersTests/rmsnorm-reference.safetensors")
with open(path + ".tmp", "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
os.replace(path + ".tmp", path)
print(f"wrote {path}")
