# The optional CUDA backend (QLM_CUDA=ON): CMake's CUDA language and the CUDA toolkit. Included
# before anything else is searched for, so that a missing nvcc stops configuration at once with
# one line naming the problem and the fix (CMake's own compiler detection prints a page). The
# message starts with a space so that CMake prints it as one line instead of wrapping it.
set(_qlm_cuda_fix "install the CUDA toolkit and pass -DCMAKE_CUDA_COMPILER=/path/to/nvcc (or put nvcc on PATH), or configure with -DQLM_CUDA=OFF")
if(CMAKE_CUDA_COMPILER)
  set(_qlm_nvcc "${CMAKE_CUDA_COMPILER}")
  set(_qlm_nvcc_from "CMAKE_CUDA_COMPILER")
elseif(DEFINED ENV{CUDACXX})
  set(_qlm_nvcc "$ENV{CUDACXX}")
  set(_qlm_nvcc_from "CUDACXX")
else()
  find_program(QLM_NVCC nvcc HINTS ENV CUDA_PATH ENV CUDAToolkit_ROOT /usr/local/cuda PATH_SUFFIXES bin)
  set(_qlm_nvcc "${QLM_NVCC}")
  set(_qlm_nvcc_from "PATH")
endif()
if(NOT _qlm_nvcc OR NOT EXISTS "${_qlm_nvcc}" OR IS_DIRECTORY "${_qlm_nvcc}")
  if(_qlm_nvcc_from STREQUAL "PATH")
    message(FATAL_ERROR " QLM_CUDA=ON needs the CUDA compiler nvcc and none was found on PATH, in $CUDA_PATH or in /usr/local/cuda: ${_qlm_cuda_fix}")
  else()
    message(FATAL_ERROR " QLM_CUDA=ON needs the CUDA compiler nvcc and ${_qlm_nvcc_from} names '${_qlm_nvcc}', which does not exist: ${_qlm_cuda_fix}")
  endif()
endif()
set(CMAKE_CUDA_COMPILER "${_qlm_nvcc}" CACHE FILEPATH "CUDA compiler" FORCE)
# Machine code for Hopper (H100/H200, sm_90) and PTX for compute_75 (the oldest architecture CUDA
# 13 targets), which the driver compiles for any newer GPU at load time.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "90-real;75-virtual")
endif()
enable_language(CUDA)
# The .cu files are C++17 (CMake before 3.26 knows no CUDA20 dialect for nvcc); the headers they
# share with the host code (the block formats) compile as both.
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
find_package(CUDAToolkit REQUIRED)
