package api

import "github.com/gantryci/gantry/internal/ci"

func (s *Server) createUserRunner(q *req) error { return ci.ErrRouteNotFound }
func (s *Server) listRunners(all bool) func(*req) error {
	return func(q *req) error { return ci.ErrRouteNotFound }
}
func (s *Server) getRunner(q *req) error      { return ci.ErrRouteNotFound }
func (s *Server) updateRunner(q *req) error   { return ci.ErrRouteNotFound }
func (s *Server) deleteRunner(q *req) error   { return ci.ErrRouteNotFound }
func (s *Server) runnerJobs(q *req) error     { return ci.ErrRouteNotFound }
func (s *Server) projectRunners(q *req) error { return ci.ErrRouteNotFound }
