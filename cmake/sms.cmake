# certhall-sms-sender: the SMS outbox sender, its own process (src/sms/,
# include/certhall/sms.h).  The web workers never talk to the SMS provider,
# they write outbox rows.  libcurl (PkgConfig::CURL) is found by
# CMakeLists.txt.  Included by CMakeLists.txt.

file(GLOB _sms_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/../src/sms/*.c)
add_executable(certhall-sms-sender ${_sms_sources})
target_link_libraries(certhall-sms-sender PRIVATE certhall_core PkgConfig::CURL)
