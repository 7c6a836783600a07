import psycopg

from tests.postgres_server import PostgresServer


def test_postgres_server_fixture_serves_a_database(postgres: PostgresServer) -> None:
    with psycopg.connect(postgres.url) as connection:
        row = connection.execute("SELECT current_database(), current_user").fetchone()
    assert row == ("stepladder", "postgres")
    other = postgres.create_database("second")
    with psycopg.connect(other) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
