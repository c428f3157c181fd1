# cmake -D IN=model.yaml -D OUT=small.yaml -D FROM="[3, 224, 224]" -D TO="[3, 64, 64]" -P SmallInput.cmake
# The same network on smaller images, as test/e2e/resnet_step.test makes it with sed; fails
# if the model file no longer has the input shape it replaces.
file(READ "${IN}" text)
string(FIND "${text}" "shape: ${FROM}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${IN}: no 'shape: ${FROM}' to replace")
endif()
string(REPLACE "shape: ${FROM}" "shape: ${TO}" text "${text}")
file(WRITE "${OUT}" "${text}")
