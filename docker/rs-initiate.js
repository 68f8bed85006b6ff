// Initiates the replica set rs0 of docker/compose.yaml, once, and waits until it has a
// primary. Run by the compose service mongo-init (mongosh --file); safe to run again.
const members = [
  { _id: 0, host: "mongo1:27017", priority: 2 },
  { _id: 1, host: "mongo2:27017", priority: 1 },
  { _id: 2, host: "mongo3:27017", priority: 1 },
];

try {
  rs.status();
  print("replica set rs0 is initiated");
} catch (error) {
  if (error.codeName !== "NotYetInitialized") {
    throw error;
  }
  rs.initiate({ _id: "rs0", members: members });
  print("replica set rs0 initiated with " + members.map((m) => m.host).join(", "));
}

for (let waited = 0; ; waited++) {
  const status = rs.status();
  if (status.members.some((m) => m.stateStr === "PRIMARY")) {
    print("replica set rs0 has a primary");
    break;
  }
  if (waited >= 120) {
    print("replica set rs0 has no primary after 120 s");
    quit(1);
  }
  sleep(1000);
}
