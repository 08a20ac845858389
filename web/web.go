// Package web holds the pages operators open in a browser: HTML templates
// and static assets embedded in the binary, and [Render]. It does no
// routing; server mounts [Static] at [StaticPrefix] and handlers render.
//
// Pages load nothing from elsewhere (no CDN, no fonts, no JavaScript), so
// they work offline and under a strict [CSP].
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// CSP is the Content-Security-Policy of every page: the stylesheet from
// this origin and data: images (the icon); nothing else, not even inline
// styles or scripts.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// StaticPrefix is the URL path the static assets are served under.
const StaticPrefix = "/static/"

//go:embed templates/*.html static
var files embed.FS

// Computed once, on first use rather than at package initialisation, and
// read-only after: functions, so no caller can change a shared map.
var (
	// assetVersions maps a static file's name to a hash of its content; the
	// version in asset URLs lets browsers cache them for a year.
	assetVersions = sync.OnceValue(hashAssets)
	templates     = sync.OnceValue(parseTemplates)
)

func parseTemplates() *template.Template {
	return template.Must(template.New("").Funcs(template.FuncMap{
		"asset": AssetURL,
	}).ParseFS(files, "templates/*.html"))
}

func hashAssets() map[string]string {
	out := map[string]string{}
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(p, "static/")] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		panic("web: embedded assets: " + err.Error())
	}
	return out
}

// AssetURL is the versioned URL of a static file, e.g.
// "/static/style.css?v=3f2a…". An unknown name panics: templates are
// rendered in tests, so a typo fails there.
func AssetURL(name string) string {
	v, ok := assetVersions()[name]
	if !ok {
		panic("web: no static asset " + name)
	}
	return StaticPrefix + name + "?v=" + v
}

// Render executes the page template name with data into a buffer and, only
// if that worked, writes it with status and the page headers (CSP, nosniff,
// no referrer). Headers the caller set before (Vary, Cache-Control) are
// kept; Cache-Control defaults to no-store because pages show live state.
func Render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := templates().ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "internal error: page did not render", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	buf.WriteTo(w)
}

// Static serves the embedded assets below [StaticPrefix]. A request that
// names the current version (?v=, as [AssetURL] writes it) may be cached for
// a year; any other is revalidated, so a stale URL never pins old CSS.
func Static() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, StaticPrefix)
		v, ok := assetVersions()[name]
		if !ok || r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.NotFound(w, r)
			return
		}
		b, err := files.ReadFile("static/" + name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", `"`+v+`"`)
		if r.URL.Query().Get("v") == v {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
	})
}
