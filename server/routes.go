package server

// routes registers every route: the JSON API under /api/v1 and the HTML pages.
func (s *Server) routes() {
	s.pageRoutes()
}
