/*
 * The handlers, one file per REST resource under api/.  Each takes a
 * request whose body (if any) is already validated into req->input and
 * leaves a response in req->resp; see certhall/router.h for the contract.
 */
#ifndef CERTHALL_API_H
#define CERTHALL_API_H

#include "certhall/db.h"
#include "certhall/http.h"
#include "certhall/json.h"
#include "certhall/router.h"

int api_health(ch_req_t *req);
int api_catalog(ch_req_t *req);
int api_quote_create(ch_req_t *req);

extern const ch_schema_t api_quote_schema;

#endif
