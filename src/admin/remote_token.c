/* remote_token.c: the session tokens of `qvd-admin login`, kept in ~/.qvd/admin-tokens: one
 * "URL LOGIN TOKEN" line per server and administrator, mode 0600, replaced atomically. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "err.h"
#include "util.h"

#define TOKEN_FILE_MAX (1024 * 1024)

struct token_line {
    const char *url, *login, *token;
};

/* Splits one line in place into its three words; false for a malformed line. */
static bool
split_line(char *line, struct token_line *t)
{
    char *save = NULL;

    t->url = strtok_r(line, " \t", &save);
    t->login = strtok_r(NULL, " \t", &save);
    t->token = strtok_r(NULL, " \t", &save);
    return t->token != NULL && strtok_r(NULL, " \t", &save) == NULL;
}

/* A word may go in the file: not empty, no white space or control characters. */
static bool
word_ok(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return false;
    return true;
}

/* The file's text ("" when it does not exist); NULL + qvd_strerror() otherwise. */
static char *
read_tokens(const char *file)
{
    char *text = NULL;

    if (qvd_read_file(file, TOKEN_FILE_MAX, &text, NULL) < 0) {
        if (errno == ENOENT)
            return qvd_xstrdup("");
        qvd_seterr("cannot read %s: %s", file, strerror(errno));
        return NULL;
    }
    return text;
}

char *
remote_token_get(const char *file, const char *url, const char *login, char **login_out)
{
    char *text = read_tokens(file), *save = NULL, *token = NULL;
    size_t len;

    if (login_out != NULL)
        *login_out = NULL;
    if (text == NULL)
        return NULL;
    len = strlen(text);
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct token_line t;
        if (!split_line(line, &t) || strcmp(t.url, url) != 0 ||
            (login != NULL && strcmp(t.login, login) != 0))
            continue;
        /* the last line wins: it is the newest login */
        free(token);
        token = qvd_xstrdup(t.token);
        if (login_out != NULL) {
            free(*login_out);
            *login_out = qvd_xstrdup(t.login);
        }
    }
    qvd_wipe(text, len);
    free(text);
    return token;
}

int
remote_token_put(const char *file, const char *url, const char *login, const char *token)
{
    struct qvd_buf out = QVD_BUF_INIT;
    char *text, *save = NULL, *dir, *slash;
    size_t len;
    int rc = -1;

    if (!word_ok(url) || !word_ok(login) || (token != NULL && !word_ok(token)))
        return qvd_seterr("cannot store a session token with white space in it");
    dir = qvd_xstrdup(file);
    slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        if (qvd_mkdir_p(dir, 0700) < 0) {
            free(dir);
            return -1;
        }
    }
    free(dir);
    if ((text = read_tokens(file)) == NULL)
        return -1;
    len = strlen(text);
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *copy = qvd_xstrdup(line);
        struct token_line t;
        if (split_line(copy, &t) && !(strcmp(t.url, url) == 0 && strcmp(t.login, login) == 0))
            qvd_buf_printf(&out, "%s %s %s\n", t.url, t.login, t.token);
        qvd_wipe(copy, strlen(copy));
        free(copy);
    }
    if (token != NULL)
        qvd_buf_printf(&out, "%s %s %s\n", url, login, token);
    if (qvd_write_file(file, out.data ? out.data : "", out.len, 0600) == 0)
        rc = 0;
    qvd_wipe(text, len);
    free(text);
    if (out.data != NULL)
        qvd_wipe(out.data, out.len);
    qvd_buf_free(&out);
    return rc;
}
