package server

// pageRoutes registers the HTML pages of the web UI.
func (s *Server) pageRoutes() {}
