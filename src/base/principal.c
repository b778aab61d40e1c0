#include "certhall/base/principal.h"
#include "certhall/base/util.h"

#include <string.h>

const char *const ch_staff_role_names[] = {
	"reviewer", "operator", "finance", "counter", "admin", NULL,
};

static const char *const actor_names[CH_ACTOR__MAX] = {
	[CH_ACTOR_ANONYMOUS] = "anonymous",
	[CH_ACTOR_APPLICANT] = "applicant",
	[CH_ACTOR_STAFF] = "staff",
	[CH_ACTOR_INTEGRATOR] = "integrator",
	[CH_ACTOR_SYSTEM] = "system",
};

const char *
ch_actor_name(ch_actor_t kind)
{
	return kind < CH_ACTOR__MAX ? actor_names[kind] : "unknown";
}

unsigned
ch_staff_roles_parse(const char *a)
{
	unsigned roles = 0;

	if (a == NULL || *a != '{')
		return 0;
	a++;
	while (*a != '\0' && *a != '}') {
		size_t n = strcspn(a, ",}");
		char name[16];		/* longer than any role name */
		int i;

		if (n < sizeof name) {
			memcpy(name, a, n);
			name[n] = '\0';
			if ((i = ch_code_index(ch_staff_role_names, name)) >= 0)
				roles |= (unsigned)CH_ROLE_REVIEWER << i;
		}
		a += n;
		if (*a == ',')
			a++;
	}
	return roles;
}
