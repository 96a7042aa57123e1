-- Run once by the postgres image on an empty data directory: Airflow's metadata database
-- and the news warehouse live side by side, each with its own owner.
CREATE USER airflow WITH PASSWORD 'airflow';
CREATE DATABASE airflow OWNER airflow;
CREATE USER ingest WITH PASSWORD 'ingest';
CREATE DATABASE warehouse OWNER ingest;
