package api

import "github.com/gantryci/gantry/internal/ci"

func (s *Server) downloadArtifacts(q *req) error      { return ci.ErrRouteNotFound }
func (s *Server) artifactFile(q *req) error           { return ci.ErrRouteNotFound }
func (s *Server) downloadRefArtifacts(q *req) error   { return ci.ErrRouteNotFound }
func (s *Server) refArtifactFile(q *req) error        { return ci.ErrRouteNotFound }
func (s *Server) keepArtifacts(q *req) error          { return ci.ErrRouteNotFound }
func (s *Server) deleteJobArtifacts(q *req) error     { return ci.ErrRouteNotFound }
func (s *Server) deleteProjectArtifacts(q *req) error { return ci.ErrRouteNotFound }
