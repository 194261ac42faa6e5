/* printing.c: this computer's printers for the VM (docs/client.md, "Printing"). With
 * printing on, the client asks for it (qvd.client.printing.enabled=1, as QVD's client) and
 * gives nxproxy cups=<port>: nxproxy then carries each connection the VM opens on its cups
 * channel to this computer's CUPS on 127.0.0.1:<port>, which the VM lists for its printers
 * and prints to. */
#include <stdio.h>
#include <stdlib.h>

#include "client.h"
#include "err.h"

int
client_printing_apply(struct qvd_config *cfg, struct client_opts *o)
{
    long port = qvd_config_int(cfg, "client.printing.cups.port");
    if (port < 1 || port > 65535)
        return qvd_seterr("The value %ld of client.printing.cups.port is not valid: give the "
                          "port of this computer's CUPS, from 1 to 65535 (631 is CUPS's own).",
                          port);
    o->printing = qvd_config_bool(cfg, "client.printing.enable");
    o->cups_port = (int)port;
    return 0;
}

void
client_printing_nx_options(const struct client_opts *o, struct qvd_buf *b)
{
    /* a server that has printing off hears nothing of it, and the user gets one sentence */
    if (client_feature_use(o, "printing", o->printing))
        qvd_buf_printf(b, " cups=%d", o->cups_port);
}
