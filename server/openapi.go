package server

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPI is the OpenAPI 3.1 document of the whole API. A test checks that
// it lists exactly the routes the server registers; `make lint-openapi`
// runs an OpenAPI linter over it.
//
//go:embed openapi.json
var openAPI []byte

// getOpenAPI serves the OpenAPI document.
func (s *Server) getOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPI)
}
