#include "certhall/clients/sms.h"
#include "certhall/base/log.h"

#include <stdio.h>
#include <string.h>

static const char *const result_names[CH_SMS__MAX] = {
	[CH_SMS_SENT] = "sent",
	[CH_SMS_RETRY] = "retry",
	[CH_SMS_PERMANENT] = "permanent",
};

const char *
ch_sms_result_name(ch_sms_result_t r)
{
	return (unsigned)r < CH_SMS__MAX ? result_names[r] : "unknown";
}

ch_sms_result_t
ch_sms_send(ch_sms_provider_t *p, const ch_sms_msg_t *msg,
    ch_sms_outcome_t *out)
{
	memset(out, 0, sizeof *out);
	if (msg->message_id == NULL || msg->phone == NULL ||
	    msg->template == NULL || msg->text == NULL) {
		snprintf(out->error, sizeof out->error, "incomplete message");
		return CH_SMS_PERMANENT;
	}
	/* Carriers drop unsigned messages; refuse them here, visibly, rather
	 * than have them vanish at the provider. */
	if (strncmp(msg->text, CH_SMS_SIGNATURE, strlen(CH_SMS_SIGNATURE)) != 0) {
		snprintf(out->error, sizeof out->error,
		    "body does not start with the signature " CH_SMS_SIGNATURE);
		return CH_SMS_PERMANENT;
	}
	return p->ops->send(p, msg, out);
}

void
ch_sms_provider_free(ch_sms_provider_t *p)
{
	if (p != NULL)
		p->ops->free(p);
}

char *
ch_sms_mask_phone(const char *phone, char *buf, size_t cap)
{
	size_t n = phone ? strlen(phone) : 0;

	if (cap == 0)
		return buf;
	/* Only short ASCII is cut: half a UTF-8 sequence must not reach a
	 * log line, and a short string would show too much of itself. */
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)phone[i] < 0x20 ||
		    (unsigned char)phone[i] > 0x7e) {
			n = 0;
			break;
		}
	}
	if (n < 8 || cap < 12)
		snprintf(buf, cap, "****");
	else
		snprintf(buf, cap, "%.3s****%s", phone, phone + n - 4);
	return buf;
}
