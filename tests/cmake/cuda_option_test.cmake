# -DQLM_CUDA=ON without a CUDA compiler: configuration of a scratch build fails, and what it says
# about it is one line naming the problem (no nvcc at the given path) and the fix.
#   cmake -DSOURCE_DIR=<qlm> -DWORK_DIR=<scratch> -P cuda_option_test.cmake
file(REMOVE_RECURSE "${WORK_DIR}")
execute_process(
  COMMAND ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}" -DQLM_CUDA=ON
          -DCMAKE_CUDA_COMPILER=/nonexistent/cuda/bin/nvcc
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
file(REMOVE_RECURSE "${WORK_DIR}")

if(rc EQUAL 0)
  message(FATAL_ERROR "configuring with QLM_CUDA=ON and no nvcc succeeded:\n${out}${err}")
endif()
# The lines that say something: CMake's "CMake Error at" header and call stack set aside.
string(REPLACE "\n" ";" lines "${err}")
set(said "")
foreach(line IN LISTS lines)
  string(STRIP "${line}" line)
  if(line STREQUAL "" OR line MATCHES "^CMake Error at " OR line MATCHES "^Call Stack" OR line MATCHES "^CMakeLists.txt:[0-9]+ \\(include\\)$")
    continue()
  endif()
  list(APPEND said "${line}")
endforeach()
list(LENGTH said n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "expected one line about the missing nvcc, got ${n}:\n${err}")
endif()
foreach(needle "QLM_CUDA=ON needs the CUDA compiler nvcc" "/nonexistent/cuda/bin/nvcc" "does not exist"
               "-DCMAKE_CUDA_COMPILER=/path/to/nvcc" "-DQLM_CUDA=OFF")
  string(FIND "${said}" "${needle}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the line does not say '${needle}': ${said}")
  endif()
endforeach()
# CMake's own compiler detection never ran: it fails with a page of its own.
foreach(needle "No CMAKE_CUDA_COMPILER could be found" "The CUDA compiler identification")
  string(FIND "${out}${err}" "${needle}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "CMake's CUDA detection ran ('${needle}'):\n${out}${err}")
  endif()
endforeach()
message(STATUS "QLM_CUDA=ON without nvcc: ${said}")
