import { Link } from "../app/router";
import { PageHeading } from "../components/ui";

export default function NotFound() {
  return (
    <>
      <PageHeading>Page not found</PageHeading>
      <p>
        Nothing lives at this address. Go to the <Link href="/">overview</Link>.
      </p>
    </>
  );
}
