# Writes the two model files of test/Import/long_names.test to the paths given: LINE, one
# layer whose op is a 4 MB misspelling of 'flatten'; NAMES, 64 layers whose names are 60,000
# characters long and a layer whose input misspells one of them (3.9 MB in all). Unbounded
# edit distances made dlc take minutes on both.
import sys

line_path, names_path = sys.argv[1], sys.argv[2]
head = "inputs:\n  image: {shape: [1, 28, 28]}\n  label: {classes: 10}\nlayers:\n"
tail = "loss: {op: softmax_cross_entropy}\n"
with open(line_path, "w") as f:
    f.write(head + "  - {name: f, op: " + "flaten" * 700000 + "}\n" + tail)
n = 60000
layers = ["  - {name: %02d%s, op: relu}\n" % (i, "a" * n) for i in range(64)]
layers.append("  - {name: out, op: relu, input: 05%sb}\n" % ("a" * (n - 1)))
with open(names_path, "w") as f:
    f.write(head + "".join(layers) + tail)
