/* The WebSocket close codes framecast sends, one list for every endpoint
 * (docs/protocol.md, "Close codes"; the 4xxx ones are framecast's own, after
 * the HTTP status they mean). Constants only. */
#ifndef FC_TRANSPORT_CLOSE_CODES_H
#define FC_TRANSPORT_CLOSE_CODES_H

#define CLOSE_GOING_AWAY 1001       /* the server is stopping */
#define CLOSE_POLICY 1008           /* the client broke the framing or the rules */
#define CLOSE_UNEXPECTED 1011       /* the server could not go on (out of memory) */
#define CLOSE_SERVICE_RESTART 1012  /* the stream was rebuilt: reconnect */
#define CLOSE_TRY_AGAIN 1013        /* full: try again later */
#define CLOSE_BAD_REQUEST 4400      /* the request cannot be served as asked */
#define CLOSE_UNKNOWN_STREAM 4404   /* no such stream */
#define CLOSE_UNKNOWN_ENDPOINT 4404 /* no such path */
#define CLOSE_STREAM_DELETED 4410   /* the stream was deleted */

#endif
