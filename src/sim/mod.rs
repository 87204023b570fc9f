//! bms-sim: a simulator of the Huawei Cloud BMS job API, for tests, demos and users' CI.
