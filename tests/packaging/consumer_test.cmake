# SPDX-License-Identifier: MIT
# Run by ctest with -DBUILD_DIR, -DPREFIX, -DSOURCE, -DGENERATOR.
file(REMOVE_RECURSE ${PREFIX})
function(step)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "failed (${rc}): ${ARGN}")
    endif()
endfunction()
step(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX})
step(${CMAKE_COMMAND} -S ${SOURCE} -B ${PREFIX}/consumer-build -G ${GENERATOR}
     -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_BUILD_TYPE=Release)
step(${CMAKE_COMMAND} --build ${PREFIX}/consumer-build)
step(${PREFIX}/consumer-build/consumer)
