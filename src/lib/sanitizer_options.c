/* sanitizer_options.c: compiled into every program of a sanitizer build only (meson's
 * b_sanitize, see src/lib/meson.build). The sanitizers read these defaults before their
 * environment variables, which override them flag by flag. They matter where nobody sets
 * the environment: the VMA inside an LXC container, whose environment LXC clears. A report
 * stops the program (UBSan and TSan would otherwise go on), so a test notices it; leaks are
 * not checked at exit (LeakSanitizer ptraces the process, which the seccomp filter of
 * qvd-l7r and qvd-api kills; the unit tests turn it back on with ASAN_OPTIONS). */
const char *__asan_default_options(void);
const char *__ubsan_default_options(void);
const char *__tsan_default_options(void);

const char *
__asan_default_options(void)
{
    return "halt_on_error=1:detect_leaks=0";
}

const char *
__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

const char *
__tsan_default_options(void)
{
    return "halt_on_error=1:second_deadlock_stack=1";
}
