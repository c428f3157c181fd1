# lit configuration for dlc: RUN lines call dl-opt, dlc and dlrun and check with FileCheck.
import os
import shutil
import sys
import lit.formats
from lit.llvm import llvm_config

config.name = "DLC"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".yaml", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "unit", "fuzz", "Inputs", "check_training.py", "make_cifar10.py", "compare_runs.py", "parity.py", "torch_layers.py", "dlrun_data.py", "lstm_cell_check.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.dlc_obj_root, "test")
config.substitutions.append(("%models", os.path.join(config.dlc_src_root, "models")))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(["dl-opt", "dlc", "dlrun", "onnx-tensors"], [config.dlc_tools_dir])
llvm_config.add_tool_substitutions(["FileCheck", "not", "count"], [config.llvm_tools_dir])

# The real data set the end-to-end tests train on (Debian: dataset-fashion-mnist).
if os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
    config.available_features.add("fashion-mnist")
config.substitutions.append(("%python", sys.executable))
# PyTorch for test/parity (Debian: python3-torch), in lit's own Python or the system's.
import subprocess
for python in [sys.executable, "/usr/bin/python3"]:
    if os.path.exists(python) and subprocess.run([python, "-c", "import torch, yaml"],
                                                 capture_output=True).returncode == 0:
        config.available_features.add("torch")
        config.substitutions.append(("%torch_python", python))
        break
# PyTorch with torchvision, for the ONNX export tests (test/Driver/onnx_exports.test): lit's
# Python, the system's, or bench/.venv's (bench/README: PyTorch 2.x and ONNX Runtime).
for python in [sys.executable, "/usr/bin/python3",
               os.path.join(config.dlc_src_root, "bench", ".venv", "bin", "python")]:
    if os.path.exists(python) and subprocess.run([python, "-c", "import torch, torchvision"],
                                                 capture_output=True).returncode == 0:
        config.available_features.add("torch-export")
        config.substitutions.append(("%export_python", python))
        break
config.substitutions.append(("%llvm_include", os.path.join(os.path.dirname(config.llvm_tools_dir), "include")))
if any(os.path.exists(os.path.join(d, "libnvrtc.so")) for d in
       ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"]):
    config.available_features.add("nvrtc")
if os.path.exists("/dev/nvidia0"):
    config.available_features.add("cuda-device")
# lit runs tests without HOME, so give NVRTC's cache a place in the build tree: the first run
# compiles, later runs of unchanged kernels read the cache.
config.environment["DLC_CACHE_DIR"] = os.path.join(config.dlc_obj_root, "nvrtc-cache")

# Built with ASan+UBSan (scripts/test.sh --sanitize): a few tests cannot run that way, and say
# so with `UNSUPPORTED: sanitized`: `ulimit -v` caps cannot hold ASan's shadow memory (it
# reserves terabytes of address space), and LeakSanitizer reports Open MPI's own allocations
# in mpirun's ranks as leaks.
if getattr(config, "dlc_sanitize", "OFF").upper() in ("ON", "1", "TRUE", "YES"):
    config.available_features.add("sanitized")

# Built with oneDNN (libdnnl-dev found, DLC_WITH_DNNL on): its convolutions and layouts.
if getattr(config, "dlc_have_dnnl", "OFF").upper() in ("ON", "1", "TRUE", "YES"):
    config.available_features.add("dnnl")

# Multi-process training: mpirun (Debian: openmpi-bin) and dlrun's MPI module (built when
# libopenmpi-dev was found). Open MPI refuses root without the two variables (CI and
# containers run as root); "none" keeps its shared-memory transport off process_vm_readv,
# which container sandboxes often forbid.
if shutil.which("mpirun") and os.path.exists(os.path.join(config.dlc_obj_root, "lib", "libdlc-mpi.so")):
    config.available_features.add("mpi")
config.substitutions.append(("%mpirun", "mpirun --allow-run-as-root --oversubscribe --bind-to none"))
for var, value in [("OMPI_ALLOW_RUN_AS_ROOT", "1"), ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
                   ("OMPI_MCA_btl_vader_single_copy_mechanism", "none")]:
    config.environment[var] = value
