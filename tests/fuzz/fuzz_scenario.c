/* libFuzzer target for the scenario loader and the plan: any bytes must end
 * in a scenario or in diagnostics, never in a crash, a leak or a hang.
 * Build and run: make fuzz (clang with libFuzzer); seeds: scenarios/ and
 * tests/scenarios/. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "faultline/plan.h"
#include "faultline/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fl_diags d;
	struct fl_scenario *s = NULL;
	struct fl_plan *p = NULL;

	fl_diags_init(&d);
	if (fl_scenario_load_string("fuzz.yaml", (const char *)data, size, NULL, 0, &d, &s) == 0 &&
	    fl_plan_build(s, 1, &p) == 0) {
		FILE *null = fopen("/dev/null", "w");
		fl_plan_write_text(p, null);
		fl_plan_write_json(p, null);
		fclose(null);
	}
	fl_plan_free(p);
	fl_scenario_free(s);
	fl_diags_release(&d);
	return 0;
}
