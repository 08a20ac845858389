package agenttest

import "net/http"

func (a *Agent) notYet(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r) {
		return
	}
	writeDetail(w, http.StatusNotImplemented, "agenttest: not implemented yet")
}

func (a *Agent) handleEdit(w http.ResponseWriter, r *http.Request)               { a.notYet(w, r) }
func (a *Agent) handleEditUploadInit(w http.ResponseWriter, r *http.Request)     { a.notYet(w, r) }
func (a *Agent) handleEditUploadFile(w http.ResponseWriter, r *http.Request)     { a.notYet(w, r) }
func (a *Agent) handleEditUploadComplete(w http.ResponseWriter, r *http.Request) { a.notYet(w, r) }
func (a *Agent) handleScriptRun(w http.ResponseWriter, r *http.Request)          { a.notYet(w, r) }
func (a *Agent) handleUpload(w http.ResponseWriter, r *http.Request)             { a.notYet(w, r) }
func (a *Agent) handleUploadInit(w http.ResponseWriter, r *http.Request)         { a.notYet(w, r) }
func (a *Agent) handleUploadChunk(w http.ResponseWriter, r *http.Request)        { a.notYet(w, r) }
func (a *Agent) handleUploadComplete(w http.ResponseWriter, r *http.Request)     { a.notYet(w, r) }
