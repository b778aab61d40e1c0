/*
 * Proactive content negotiation (RFC 9110 §12.5.1): which of the
 * representations a resource offers the client's Accept header prefers.
 *
 * Decisions:
 * - Each offer gets the weight of the most specific media range that
 *   matches it: an exact type/subtype, over a whole type ("application/"
 *   and a star), over the full wildcard.  A range that matches none of
 *   the offers weighs nothing; q=0 refuses an offer.  The heaviest offer
 *   wins; of equal weights, the one listed first (the server's
 *   preference).
 * - Media type parameters other than q are ignored for matching: every
 *   offer here has one form, so "application/pkcs7-mime;
 *   smime-type=certs-only" asks for the same thing as the bare type.
 *   Accept extensions after q are ignored too.
 * - Comparison is case-insensitive (media types are, §8.3.1).
 * - An element that does not parse (no slash, a wildcard type with a
 *   subtype, a bad q) is skipped, as if it were not there, rather than
 *   failing the whole header (§12.5.1 lets a server ignore a header it
 *   cannot use).
 * - No Accept header, an empty one, or one with no element left accepts
 *   anything: the first offer.
 */
#ifndef CERTHALL_ACCEPT_H
#define CERTHALL_ACCEPT_H

/*
 * The index in offers (type/subtype strings, NULL-terminated, in the
 * server's order of preference; at most 16 are looked at) of the representation accept (the
 * header's value, or NULL when the request has none) prefers, or -1 when
 * it accepts none of them (the caller answers 406).  Pure.
 */
int ch_accept_pick(const char *accept, const char *const *offers);

#endif
