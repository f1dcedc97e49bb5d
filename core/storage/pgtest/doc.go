// Package pgtest gives tests a fresh PostgreSQL database on the server that
// EXTASIS_TEST_POSTGRES names (started by .ci/pg.sh), and a private
// throwaway cluster for tests that stop and restart the server.
//
// Without EXTASIS_TEST_POSTGRES the tests skip with a message that says how
// to run them, except under CI=true, where no test may skip: they fail.
//
// It must only be imported from tests, and must never touch a database it
// did not create.
package pgtest
