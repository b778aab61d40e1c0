#include "certhall/base/util.h"
#include "certhall/base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

long long
ch_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long
ch_backoff_s(int attempt, long cap)
{
	long s = 1;

	for (int i = 1; i < attempt && s < cap; i++)
		s *= 2;
	return s < cap ? s : cap;
}

long
ch_parse_long(const char *s, int base, long max)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtol(s, &end, base);
	if (errno != 0 || *end != '\0' || v < 0 || v > max)
		return -1;
	return v;
}

int
ch_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
ch_become_user(const char *user)
{
	struct passwd *pw;

	if (user == NULL || geteuid() != 0)
		return 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		ch_error("user \"%s\" does not exist", user);
		return 67;
	}
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		ch_error("cannot become \"%s\": %s", user, strerror(errno));
		return 77;
	}
	if (setuid(0) == 0) {
		ch_error("still able to regain root after dropping to \"%s\"",
		    user);
		return 77;
	}
	return 0;
}

int
ch_code_index(const char *const *codes, const char *s)
{
	for (int i = 0; codes[i] != NULL; i++)
		if (strcmp(codes[i], s) == 0)
			return i;
	return -1;
}

int
ch_read_secret(const char *path, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;
	int fd, rc = -1;

	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ch_error("secret \"%s\": %s", path, strerror(errno));
		return -1;
	}
	/* One byte of room past the limit tells "too long" from "exactly". */
	while (n < cap) {
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ch_error("secret \"%s\": %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n == cap) {
		ch_error("secret \"%s\" is longer than %zu bytes", path, cap - 1);
		goto out;
	}
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t' ||
	    buf[n - 1] == '\r' || buf[n - 1] == '\n'))
		n--;
	buf[n] = '\0';
	if (n == 0 || memchr(buf, '\0', n) != NULL) {
		ch_error("secret \"%s\" is empty or binary", path);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		memset(buf, 0, cap);
	close(fd);
	return rc;
}

void
ch_time_shanghai(long long t, char out[32])
{
	time_t local = (time_t)(t + 8 * 3600);
	struct tm tm;

	gmtime_r(&local, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S+08:00", &tm);
}

int
ch_id_parse(const char *s, long long *id)
{
	long long v = 0;
	size_t n;

	if (s == NULL || s[0] < '1' || s[0] > '9')
		return -1;
	for (n = 0; s[n] != '\0'; n++) {
		if (n == 18 || s[n] < '0' || s[n] > '9')
			return -1;
		v = v * 10 + (s[n] - '0');
	}
	*id = v;
	return 0;
}
