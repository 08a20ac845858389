package devidp

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// consentPage shows a browser what was just granted, then continues to the
// client on its own after a moment, so a person sees which client got
// which scopes without having to click anything.
var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="2;url={{.Continue}}">
<title>sentinelx-mcp dev: access granted</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}dt{font-weight:600;margin-top:.6rem}
.note{color:#8a5300;background:#fff6e5;padding:.6rem .8rem;border-radius:4px}</style></head>
<body><h1>Access granted (dev mode)</h1>
<p class="note">This is <code>sentinelx-mcp dev</code>'s built-in authorization server. It approves every request automatically, for the local user <code>{{.User}}</code>. Never expose it.</p>
<dl>
<dt>Client</dt><dd>{{if .Name}}{{.Name}} {{end}}<code>{{.ClientID}}</code></dd>
<dt>Scopes</dt><dd>{{range .Scopes}}<code>{{.}}</code> {{end}}</dd>
<dt>Resource (token audience)</dt><dd>{{range .Audience}}<code>{{.}}</code> {{end}}</dd>
<dt>Returning to</dt><dd><code>{{.RedirectURI}}</code></dd>
</dl>
<p><a href="{{.Continue}}">Continue now</a> (or wait two seconds).</p>
</body></html>
`))

// consent is the login URL op sends the browser to: it approves the
// request for the dev user and continues to op's callback, which redirects
// to the client with the code. Browsers get the page above; other user
// agents (tests, scripts) a plain redirect.
func (p *IdP) consent(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	a, err := p.store.approve(id, devSubject)
	if err != nil {
		http.Error(w, "unknown or expired authorization request; start the sign-in again from the client", http.StatusBadRequest)
		return
	}
	c, _ := p.store.client(a.clientID)
	p.log.Info("dev IdP: authorization approved", "client_id", a.clientID, "sub", devSubject,
		"scope", strings.Join(a.scopes, " "), "aud", strings.Join(a.audience, " "), "redirect_uri", a.redirectURI)
	next := p.issuer + pathCallback + "?id=" + url.QueryEscape(id)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, next, http.StatusFound)
		return
	}
	data := struct {
		User, Name, ClientID, RedirectURI, Continue string
		Scopes, Audience                            []string
	}{devUsername, "", a.clientID, a.redirectURI, next, a.scopes, a.audience}
	if c != nil {
		data.Name = c.name
	}
	var buf bytes.Buffer
	if err := consentPage.Execute(&buf, data); err != nil {
		http.Error(w, "rendering the consent page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = buf.WriteTo(w)
}
