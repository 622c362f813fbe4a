// Force-included into every translation unit of the portable wheel (ORCHARD_LIBSTDCXX_3_4_29, pyproject.toml)
// so that it needs no libstdc++ symbol newer than GCC 11's (GLIBCXX_3.4.29): what manylinux_2_34 allows, and
// what Amazon Linux 2023 / RHEL 9 ship. GCC 12 gave one function a new version, GLIBCXX_3.4.30, only to stop
// declaring it noexcept (so that pthread_cancel can unwind through it): std::condition_variable::wait(lock).
// orchard never cancels threads, so its GLIBCXX_3.4.11 version, the same wait, is bound instead.
#pragma once
#include <version>  // defines __GLIBCXX__ and _GLIBCXX_RELEASE (this header is included before anything else)

#if defined(__GLIBCXX__) && defined(__x86_64__) && _GLIBCXX_RELEASE >= 12
__asm__(
    ".symver _ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE,"
    "_ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE@GLIBCXX_3.4.11");
#endif
