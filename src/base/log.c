#include "certhall/base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

static const char *log_program = "certhall";
static const char *log_request_id;

static const char *const level_names[CH_LOG__MAX] = {
	[CH_LOG_DEBUG] = "debug",
	[CH_LOG_INFO] = "info",
	[CH_LOG_WARN] = "warn",
	[CH_LOG_ERROR] = "error",
};

void
ch_log_init(const char *program)
{
	log_program = program;
}

void
ch_log_set_request_id(const char *request_id)
{
	log_request_id = request_id;
}

size_t
ch_log_escape(char *dst, size_t cap, const char *src)
{
	size_t n = 0;

	if (cap == 0)
		return 0;
	for (; src != NULL && *src != '\0'; src++) {
		unsigned char c = (unsigned char)*src;
		char esc[8];
		size_t len;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			len = 2;
		} else if (c < 0x20 || c == 0x7f) {
			len = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
		} else {
			esc[0] = (char)c;
			len = 1;
		}
		if (n + len >= cap) {
			/* Do not leave half a UTF-8 sequence behind. */
			while (n > 0 && ((unsigned char)dst[n - 1] & 0xc0) == 0x80)
				n--;
			if (n > 0 && ((unsigned char)dst[n - 1] & 0xc0) == 0xc0)
				n--;
			break;
		}
		memcpy(dst + n, esc, len);
		n += len;
	}
	dst[n] = '\0';
	return n;
}

/* Writes the common head of a line: {"ts":…,"level":…,…  (no closing brace). */
static size_t
line_head(char *buf, size_t cap, ch_log_level_t level)
{
	struct timeval tv;
	struct tm tm;
	size_t n;
	char tsbuf[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(tsbuf, sizeof tsbuf, "%Y-%m-%dT%H:%M:%S", &tm);
	n = (size_t)snprintf(buf, cap,
	    "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"prog\":\"%s\",\"pid\":%ld",
	    tsbuf, (long)(tv.tv_usec / 1000), level_names[level], log_program,
	    (long)getpid());
	if (log_request_id != NULL && n < cap) {
		n += (size_t)snprintf(buf + n, cap - n, ",\"request_id\":\"");
		n += ch_log_escape(buf + n, cap - n, log_request_id);
		n += (size_t)snprintf(buf + n, cap - n, "\"");
	}
	return n < cap ? n : cap - 1;
}

static void
line_write(char *buf, size_t n, size_t cap)
{
	if (n > cap - 3)
		n = cap - 3;
	buf[n++] = '}';
	buf[n++] = '\n';
	/* One write: lines from concurrent processes stay whole. */
	if (write(STDERR_FILENO, buf, n) < 0)
		return;
}

void
ch_log(ch_log_level_t level, const char *fmt, ...)
{
	char buf[LINE_MAX_BYTES], msg[LINE_MAX_BYTES / 2];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	n = line_head(buf, sizeof buf, level);
	n += (size_t)snprintf(buf + n, sizeof buf - n, ",\"msg\":\"");
	n += ch_log_escape(buf + n, sizeof buf - n - 4, msg);
	n += (size_t)snprintf(buf + n, sizeof buf - n, "\"");
	line_write(buf, n, sizeof buf);
}

void
ch_log_access(const char *method, const char *path, int status, double ms,
    size_t bytes, const char *remote_addr)
{
	char buf[LINE_MAX_BYTES];
	size_t n;

	n = line_head(buf, sizeof buf, CH_LOG_INFO);
	n += (size_t)snprintf(buf + n, sizeof buf - n,
	    ",\"msg\":\"access\",\"method\":\"");
	n += ch_log_escape(buf + n, 16, method);
	n += (size_t)snprintf(buf + n, sizeof buf - n, "\",\"path\":\"");
	n += ch_log_escape(buf + n, 512, path);
	n += (size_t)snprintf(buf + n, sizeof buf - n,
	    "\",\"status\":%d,\"ms\":%.3f,\"bytes\":%zu,\"remote\":\"",
	    status, ms, bytes);
	n += ch_log_escape(buf + n, 64, remote_addr);
	n += (size_t)snprintf(buf + n, sizeof buf - n, "\"");
	line_write(buf, n, sizeof buf);
}

static void
mask(const char *s, size_t head, size_t tail, char out[32])
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n > 31)
		n = 31;
	if (n < head + tail + 2) {
		memset(out, '*', n ? n : 1);
		out[n ? n : 1] = '\0';
		return;
	}
	memcpy(out, s, head);
	memset(out + head, '*', n - head - tail);
	memcpy(out + n - tail, s + n - tail, tail);
	out[n] = '\0';
}

void
ch_mask_phone(const char *phone, char out[32])
{
	mask(phone, 3, 4, out);
}

void
ch_mask_id(const char *id, char out[32])
{
	mask(id, 4, 4, out);
}

const char *
ch_log_first_line(const char *msg, char *buf, size_t cap)
{
	size_t n = strcspn(msg, "\n");

	if (n >= cap)
		n = cap - 1;
	memcpy(buf, msg, n);
	buf[n] = '\0';
	return buf;
}
