/*
 * Who acts (SPEC §11): a person (applicant or staff), an integrator, or a
 * named back-end process, and the roles that decide which routes it may
 * call.  Plain data, shared by every layer from the store up: the audit
 * log records the actor, the domain decides visibility with it, the web
 * layer fills it in from the request's credentials.
 */
#ifndef CERTHALL_PRINCIPAL_H
#define CERTHALL_PRINCIPAL_H

typedef enum {
	CH_ACTOR_ANONYMOUS,
	CH_ACTOR_APPLICANT,
	CH_ACTOR_STAFF,
	CH_ACTOR_INTEGRATOR,
	CH_ACTOR_SYSTEM,		/* a back-end process (sender, payments) */
	CH_ACTOR__MAX
} ch_actor_t;

/* Who may call a route (SPEC §11).  A route with no role bit is refused at
 * start-up: every route states its roles. */
typedef enum {
	CH_ROLE_PUBLIC = 1u << 0,	/* anyone, signed in or not */
	CH_ROLE_APPLICANT = 1u << 1,
	CH_ROLE_INTEGRATOR = 1u << 2,
	CH_ROLE_REVIEWER = 1u << 3,
	CH_ROLE_OPERATOR = 1u << 4,
	CH_ROLE_FINANCE = 1u << 5,
	CH_ROLE_COUNTER = 1u << 6,
	CH_ROLE_ADMIN = 1u << 7,
} ch_role_t;

#define CH_ROLE_STAFF_ALL (CH_ROLE_REVIEWER | CH_ROLE_OPERATOR | \
	CH_ROLE_FINANCE | CH_ROLE_COUNTER | CH_ROLE_ADMIN)

typedef struct ch_principal {
	ch_actor_t kind;
	long long id;			/* applicant, staff or integrator id */
	unsigned roles;			/* ch_role_t bits; CH_ROLE_PUBLIC always */
	long long session_id;		/* bearer sessions, else 0 */
	/* Whose objects the caller acts on: the applicant itself, or the
	 * applicant an integrator acts for; 0 for none (staff, anonymous). */
	long long applicant_id;
	const char *external_user_id;	/* integrator's user, or NULL */
	/* Staff username, integrator key id, or a process's name
	 * ("payd", "sms-sender"). */
	const char *name;
} ch_principal_t;

/* Names as used in the API, the database and the audit log. */
const char *ch_actor_name(ch_actor_t kind);
/* Staff role names, NULL-terminated; index i is role bit CH_ROLE_REVIEWER << i. */
extern const char *const ch_staff_role_names[];
/* Role bits from a PostgreSQL text[] literal such as "{reviewer,admin}". */
unsigned ch_staff_roles_parse(const char *pg_array);

#endif
