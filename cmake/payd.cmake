# certhall-payd: the payment daemon, its own process (src/payd/,
# include/certhall/payd.h).  The gateway client it uses (src/paygw.c) and
# the way a payment is applied (src/payment.c) are core, shared with the web
# workers.  Included by CMakeLists.txt.
file(GLOB _payd_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/../src/payd/*.c)
add_executable(certhall-payd ${_payd_sources})
target_link_libraries(certhall-payd PRIVATE certhall_core)
