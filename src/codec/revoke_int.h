/*
 * Shared by the codec's revocation files (crl.c, ocsp.c); not part of the
 * public interface.
 */
#ifndef CERTHALL_CODEC_REVOKE_INT_H
#define CERTHALL_CODEC_REVOKE_INT_H

#include "certhall/codec/crl.h"
#include "signed_int.h"

/*
 * *serial (len bytes, a big-endian magnitude) without its leading zero
 * bytes: *serial moves past them and the length left is returned; 0 for
 * an all-zero or empty serial.
 */
size_t ch_revoke_serial_trim(const unsigned char **serial, size_t len);

/*
 * Sets ai (an existing INTEGER, reused so that a long list costs no
 * allocation per entry) to the positive serial (len bytes, leading zeros
 * allowed).  0, or -1 if the serial is zero or longer than
 * CH_X509_SERIAL_MAX bytes without its leading zeros, or out of memory.
 */
int ch_revoke_serial_set(ASN1_INTEGER *ai, const unsigned char *serial,
    size_t len);

#endif
