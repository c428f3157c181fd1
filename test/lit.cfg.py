# lit configuration for dlc: RUN lines call dl-opt, dlc and dlrun and check with FileCheck.
import os
import sys
import lit.formats
from lit.llvm import llvm_config

config.name = "DLC"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".yaml", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "unit", "Inputs", "check_training.py", "make_cifar10.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.dlc_obj_root, "test")
config.substitutions.append(("%models", os.path.join(config.dlc_src_root, "models")))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(["dl-opt", "dlc", "dlrun"], [config.dlc_tools_dir])
llvm_config.add_tool_substitutions(["FileCheck", "not", "count"], [config.llvm_tools_dir])

# The real data set the end-to-end tests train on (Debian: dataset-fashion-mnist).
if os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
    config.available_features.add("fashion-mnist")
config.substitutions.append(("%python", sys.executable))
config.substitutions.append(("%llvm_include", os.path.join(os.path.dirname(config.llvm_tools_dir), "include")))
if any(os.path.exists(os.path.join(d, "libnvrtc.so")) for d in
       ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"]):
    config.available_features.add("nvrtc")
if os.path.exists("/dev/nvidia0"):
    config.available_features.add("cuda-device")
# lit runs tests without HOME, so give NVRTC's cache a place in the build tree: the first run
# compiles, later runs of unchanged kernels read the cache.
config.environment["DLC_CACHE_DIR"] = os.path.join(config.dlc_obj_root, "nvrtc-cache")
