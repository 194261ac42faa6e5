/* slave.h: QVD's slave channel (nxagent/nxproxy slave=, NX_SLAVE_CMD): the mini-HTTP both
 * ends speak over it, shared by qvd-vma's and qvd-client's slave servers. Every request
 * carries the connection's slave key (QVD's own servers check none). Blocking calls: a
 * slave server is a short process on one connection (stdin/stdout). */
#ifndef QVD_SLAVE_H
#define QVD_SLAVE_H
#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "util.h"

/* The L7R's key: 64 letters and digits; shorter ones (16 at least) from other L7Rs. */
#define QVD_SLAVE_KEY_MIN 16
#define QVD_SLAVE_KEY_MAX 64
/* The time a peer has to send a whole request or answer head. */
#define QVD_SLAVE_HEAD_MS 15000

/* Whether `key` is 16..64 letters and digits. */
bool qvd_slave_key_valid(const char *key);
/* The key in the first line of the file at `path` (as the VMA writes it for the session
 * user): a new string, wiped by the caller (qvd_wipe), or NULL with an error. */
char *qvd_slave_key_read(const char *path);
/* Reads one head from `fd` into p (a parser of requests or of responses) within
 * QVD_SLAVE_HEAD_MS; the bytes after it go to `rest`. 0, or -1 with an error (EOF, a
 * malformed or oversized head, the time). */
int qvd_slave_read_head(int fd, struct qvd_http_parser *p, struct qvd_buf *rest);
/* Whether m carries `key`: X-QVD-Slave-Key: <key>, or QVD's Authorization: Basic <key>
 * (also base64 of <key> or of <user>:<key>). Compared in constant time; false when key is
 * not valid. */
bool qvd_slave_authorized(const struct qvd_http_msg *m, const char *key);
/* Writes an answer to fd: `status` with headers (NULL-terminated name, value list, may be
 * NULL) and, unless 101, `text` as a text/plain body (NULL: none). 0 or -1. */
int qvd_slave_answer(int fd, int status, const char *const *headers, const char *text);
/* Writes all of data to fd. 0 or -1. */
int qvd_slave_write_all(int fd, const void *data, size_t len);
/* Moves bytes both ways between the pair (in, out) and `sock` until both directions have
 * ended; `first` (may be NULL) goes to sock before anything else. Half-closes follow EOFs. */
void qvd_slave_pipe(int in, int out, int sock, const struct qvd_buf *first);
/* A TCP connection to 127.0.0.1:port. The socket, or -1 with an error. */
int qvd_slave_connect_local(int port);
/* A port number 1..65535 from the whole of s, else -1. */
int qvd_slave_port(const char *s);
/* A share's name as the VM shows it (~/Redirected/<name>), the same rule on both ends:
 * 1..64 letters, digits, '.', '_', '-', '+' or ' ', not starting with a dot (no '/', no "..":
 * one folder under ~/Redirected). */
bool qvd_slave_share_name_valid(const char *name);
#endif
