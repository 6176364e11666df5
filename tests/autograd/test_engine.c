/* Placeholder while the real tests are written. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

static void not_written_yet(void **state)
{
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(not_written_yet) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
